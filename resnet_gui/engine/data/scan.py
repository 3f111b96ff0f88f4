"""Index a class-per-folder tree and split it, without opening images and without importing torch.

`scan_dataset` only lists directories, so 100k files index in about a second, and the app can show
counts before torch has finished importing. `engine/data/dataset.py` turns the index into tensors.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from resnet_gui.engine.data.images import IMAGE_EXTENSIONS, image_info
from resnet_gui.engine.errors import DatasetError, ImageLoadError

log = logging.getLogger(__name__)


_TRAIN_NAMES = ("train",)
_VAL_NAMES = ("val", "valid", "validation")
_TEST_NAMES = ("test",)
_MAX_LISTED_PROBLEMS = 50
#: Folders that are never classes nor hold samples: archive and OS junk (names starting with "." are skipped too).
IGNORED_DIRS = frozenset({"__MACOSX", "$RECYCLE.BIN", "System Volume Information"})


@dataclass(frozen=True)
class Sample:
    """One image file and its class index."""

    path: str
    label: int


@dataclass
class DatasetIndex:
    """What `scan_dataset` found: classes, the train/val split, and anything the user should know."""

    root: str
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    split_source: str  # "folders" (train/ + val/ or test/ given) | "auto" (stratified seeded split)
    problems: list[str] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    #: 0-byte image files left out, per split folder ("train", "val" or "all"), sorted
    empty_files: dict[str, list[str]] = field(default_factory=dict)

    def counts(self, split: str = "all") -> dict[str, int]:
        """Images per class (every class listed, in class order) for "train", "val" or "all"."""
        if split == "train":
            samples: Sequence[Sample] = self.train
        elif split == "val":
            samples = self.val
        elif split == "all":
            samples = [*self.train, *self.val]
        else:
            raise ValueError(f"split must be 'train', 'val' or 'all', not {split!r}")
        per_label = [0] * len(self.classes)
        for s in samples:
            per_label[s.label] += 1
        return dict(zip(self.classes, per_label, strict=True))

    @property
    def num_images(self) -> int:
        """Images in train and val together."""
        return len(self.train) + len(self.val)

    def to_json(self) -> dict[str, Any]:
        """Summary for the CLI's JSON output (no per-file lists)."""
        return {
            "root": self.root,
            "classes": list(self.classes),
            "counts": {
                "train": self.counts("train"),
                "val": self.counts("val"),
                "all": self.counts("all"),
            },
            "split_source": self.split_source,
            "problems": list(self.problems),
            "empty_classes": list(self.empty_classes),
            "num_images": self.num_images,
        }


# --- scanning --------------------------------------------------------------------------------------------


def scan_dataset(root: str | os.PathLike, val_split: float = 0.2, seed: int = 0) -> DatasetIndex:
    """Index a dataset folder without opening any image.

    Layouts: ROOT/<class>/**/<image>, or ROOT/train/<class>/... with ROOT/val/<class>/... (or test/ when
    there is no val/). Without a given split, `val_split` of each class goes to val (stratified, seeded;
    every class with two or more images gets at least one val image when val_split > 0).
    Raises DatasetError when the folder is missing or has fewer than two classes with images.
    """
    if not 0.0 <= val_split < 1.0:
        raise DatasetError(f"val_split must be at least 0 and below 1, not {val_split}")
    root_path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.exists(root_path):
        raise DatasetError(f"dataset folder {root_path} does not exist")
    if not os.path.isdir(root_path):
        raise DatasetError(f"{root_path} is a file, not a dataset folder")

    subdirs, loose_images = _list_dir(root_path)
    by_name = {name.lower(): name for name in subdirs}
    train_dir = next((by_name[n] for n in _TRAIN_NAMES if n in by_name), None)
    val_dir = next((by_name[n] for n in (*_VAL_NAMES, *_TEST_NAMES) if n in by_name), None)

    problems: list[str] = []
    if train_dir and val_dir and not _list_dir(os.path.join(root_path, val_dir))[0]:
        problems.append(f"{val_dir}/ has no class folders, so part of {train_dir}/ is used for validation")
        subdirs, val_dir = [train_dir], None
    if train_dir and val_dir:
        split_source = "folders"
        class_root = root_path
        split_dirs = {"train": os.path.join(root_path, train_dir), "val": os.path.join(root_path, val_dir)}
        log.info("using the given split: %s/ for training, %s/ for validation", train_dir, val_dir)
        ignored = sorted(set(subdirs) - {train_dir, val_dir})
        if ignored:
            problems.append(
                f"folders beside {train_dir}/ and {val_dir}/ were ignored: {', '.join(ignored[:10])}"
            )
    elif train_dir and len(subdirs) == 1:
        split_source = "auto"
        class_root = os.path.join(root_path, train_dir)
        split_dirs = {"all": class_root}
        log.info("found only %s/ in %s; splitting it automatically", train_dir, root_path)
    else:
        split_source = "auto"
        class_root = root_path
        split_dirs = {"all": root_path}

    # split -> class name -> sorted file paths
    found: dict[str, dict[str, list[str]]] = {}
    empty_files: list[str] = []
    only_empty: set[str] = set()  # class folders holding 0-byte files and nothing else
    empty_by_split: dict[str, list[str]] = {}
    ancestors = _ancestor_ids(
        root_path
    )  # a link back up (a symlink loop) must not copy the tree into a class
    for split, folder in split_dirs.items():
        class_names, loose = _list_dir(folder) if folder != root_path else (subdirs, loose_images)
        if loose:
            problems.append(
                f"{len(loose)} image file(s) directly in {folder} are not in a class folder and were ignored"
            )
        found[split] = {}
        first_of: dict[tuple[int, int], str] = {}  # a folder linked twice is one class, not two
        for name in class_names:
            key = _folder_id(os.path.join(folder, name))
            if key is not None and key in first_of:
                problems.append(
                    f"class folder '{name}' is the same folder as '{first_of[key]}' (a link) and was left out"
                )
                continue
            if key is not None:
                first_of[key] = name
            files, empties = _collect_images(os.path.join(folder, name), ancestors, problems)
            found[split][name] = files
            empty_files.extend(empties)
            empty_by_split.setdefault(split, []).extend(empties)
            if empties and not files:
                only_empty.add(name)

    all_names = sorted({name for per_class in found.values() for name in per_class})
    classes = [n for n in all_names if any(per_class.get(n) for per_class in found.values())]
    empty_classes = [n for n in all_names if n not in classes]

    for name in empty_classes:
        what = "only empty (0-byte) files" if name in only_empty else "no images"
        problems.append(f"class folder '{name}' has {what} and was left out")
    for path in sorted(empty_files)[:_MAX_LISTED_PROBLEMS]:
        problems.append(f"{path} is empty (0 bytes) and was skipped")
    if len(empty_files) > _MAX_LISTED_PROBLEMS:
        problems.append(f"... and {len(empty_files) - _MAX_LISTED_PROBLEMS} more empty (0 bytes) files")

    _check_enough_classes(root_path, class_root, classes, loose_images if class_root == root_path else [])

    label_of = {name: i for i, name in enumerate(classes)}
    if split_source == "folders":
        train = [Sample(p, label_of[c]) for c in classes for p in found["train"].get(c, [])]
        val = [Sample(p, label_of[c]) for c in classes for p in found["val"].get(c, [])]
        for c in classes:
            if not found["train"].get(c):
                problems.append(f"class '{c}' has no images in {train_dir}/, so it cannot be learned")
            if not found["val"].get(c):
                problems.append(f"class '{c}' has no images in {val_dir}/, so it is not validated")
    else:
        train, val = [], []
        for c in classes:
            t, v = _split_class(found["all"][c], val_split, seed, c)
            train.extend(Sample(p, label_of[c]) for p in t)
            val.extend(Sample(p, label_of[c]) for p in v)
            if val_split > 0 and not v:
                problems.append(f"class '{c}' has only one image, so it is not validated")

    index = DatasetIndex(
        root=root_path,
        classes=classes,
        train=train,
        val=val,
        split_source=split_source,
        problems=problems,
        empty_classes=empty_classes,
        empty_files={k: sorted(v) for k, v in empty_by_split.items()},
    )
    log.info(
        "%s: %d classes, %d train / %d val images (%s split)",
        root_path,
        len(classes),
        len(train),
        len(val),
        split_source,
    )
    return index


def check_trainable(index: DatasetIndex) -> None:
    """Refuse what scan_dataset allows for browsing but would make training meaningless: a given train/ and
    val/ split without a single class in common (every validation image is of a class never trained on)."""
    if index.split_source != "folders" or not index.train or not index.val:
        return
    trained = {s.label for s in index.train}
    validated = {s.label for s in index.val}
    if not trained & validated:
        names = [index.classes[i] for i in sorted(trained)][:5]
        others = [index.classes[i] for i in sorted(validated)][:5]
        raise DatasetError(
            f"the training and validation folders of {index.root} have no class in common "
            f"(train: {', '.join(names)}; val: {', '.join(others)}): validation accuracy would mean nothing"
        )


def _folder_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _list_dir(folder: str) -> tuple[list[str], list[str]]:
    """Visible subfolder names and visible image file names directly in `folder`, sorted."""
    dirs: list[str] = []
    images: list[str] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir():
                    if name not in IGNORED_DIRS:
                        dirs.append(name)
                elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    images.append(name)
    except PermissionError as exc:
        raise DatasetError(f"cannot read folder {folder}: permission denied") from exc
    return sorted(dirs), sorted(images)


def _ancestor_ids(path: str) -> set[tuple[int, int]]:
    """(device, inode) of `path` and every folder above it."""
    ids = set()
    current = os.path.realpath(path)
    while True:
        try:
            st = os.stat(current)
            ids.add((st.st_dev, st.st_ino))
        except OSError:
            pass
        parent = os.path.dirname(current)
        if parent == current:
            return ids
        current = parent


def _collect_images(
    folder: str, skip_dirs: set[tuple[int, int]] | None = None, problems: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """All visible image files under `folder` (recursively): (non-empty paths sorted, empty paths).

    Folders in `skip_dirs` (device, inode) and folders already seen (symlink loops) are not entered;
    unreadable folders are noted in `problems`.
    """
    files: list[str] = []
    empties: list[str] = []
    extensions = IMAGE_EXTENSIONS
    seen_dirs: set[tuple[int, int]] = set(skip_dirs or ())
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            st = os.stat(current)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a symlink loop or a folder linked twice
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(current) as it:
                for entry in it:
                    name = entry.name
                    if name[0] == ".":
                        continue
                    try:
                        if entry.is_dir():
                            if name not in IGNORED_DIRS:
                                stack.append(entry.path)
                        elif os.path.splitext(name)[1].lower() in extensions and entry.is_file():
                            if entry.stat().st_size == 0:
                                empties.append(entry.path)
                            else:
                                files.append(entry.path)
                    except OSError:  # a dangling link or a file removed while we look
                        continue
        except OSError as exc:
            log.info("cannot read folder %s: %s", current, exc)  # reported in `problems`
            if problems is not None and len(problems) < _MAX_LISTED_PROBLEMS:
                reason = (
                    "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
                )
                problems.append(f"cannot read folder {current} ({reason}); its images were left out")
    files.sort()
    return files, empties


def _check_enough_classes(root: str, class_root: str, classes: list[str], loose_images: list[str]) -> None:
    example = (
        f"e.g. {os.path.join(class_root, 'cats', '*.jpg')} and {os.path.join(class_root, 'dogs', '*.jpg')}"
    )
    if len(classes) >= 2:
        return
    if not classes:
        hint = ""
        if loose_images:
            hint = f" (found {len(loose_images)} images directly in it: put each class in its own subfolder)"
        raise DatasetError(
            f"{root} has no class folders with images{hint}; it needs at least two class folders "
            f"with images, {example}"
        )
    raise DatasetError(
        f"{root} has only one class with images ('{classes[0]}'); it needs at least two class folders "
        f"with images, {example}"
    )


def _split_class(paths: list[str], val_split: float, seed: int, name: str) -> tuple[list[str], list[str]]:
    """Seeded split of one class; seeded per class so adding a class does not reshuffle the others."""
    n = len(paths)
    n_val = 0
    if val_split > 0 and n >= 2:
        n_val = min(max(1, round(n * val_split)), n - 1)
    order = list(range(n))
    random.Random(f"{seed}:{name}").shuffle(order)
    val_idx = set(order[:n_val])
    train = [p for i, p in enumerate(paths) if i not in val_idx]
    val = [p for i, p in enumerate(paths) if i in val_idx]
    return train, val


# --- image sizes -------------------------------------------------------------------------------------


def _sample_sizes(index: DatasetIndex, n: int) -> list[tuple[int, int]]:
    samples = [*index.train, *index.val]
    if not samples or n <= 0:
        return []
    step = max(1, len(samples) // n)
    sizes = []
    for s in samples[::step][:n]:
        try:
            info = image_info(s.path)
        except ImageLoadError:
            continue
        sizes.append((int(info["width"]), int(info["height"])))
    return sizes


def sample_image_size(index: DatasetIndex, n: int = 16) -> tuple[int, int] | None:
    """Median (width, height) of up to `n` files spread over the dataset (headers only); None if unreadable."""
    sizes = _sample_sizes(index, n)
    if not sizes:
        return None
    return (
        int(statistics.median_low(w for w, _ in sizes)),
        int(statistics.median_low(h for _, h in sizes)),
    )


def auto_img_size(index: DatasetIndex) -> int:
    """A training size that suits the data: median short side, rounded to a multiple of 32, in [32, 224]."""
    sizes = _sample_sizes(index, 16)
    if not sizes:
        return 224
    short = statistics.median(min(w, h) for w, h in sizes)
    return int(min(224, max(32, round(short / 32) * 32)))
