"""Downloading weights into the torch hub cache, the way torchvision does it, but safe to interrupt.

torchvision's weights enums give the URL; the file keeps its name from the URL (`resnet18-f37072fd.pth`:
the part after the last "-" is a SHA-256 prefix) and lives in `$TORCH_HOME/hub/checkpoints`
(`torch.hub.get_dir()`), so files torchvision fetched are found here and the other way round. Unlike
`torch.hub.download_url_to_file`, a download here reports progress as events, honours a stop flag between
chunks, gives up within seconds when the server cannot be reached, and is checked (size, SHA-256 prefix,
readable ResNet weights) before it is renamed into place (engine/fileio.py): the cache never holds a partial
or corrupt file. Reading the weights is engine/model/weights.py's job (never unsafe unpickling).

`$RESNET_GUI_WEIGHTS_MIRROR` (a base URL) fetches torchvision's files from a lab mirror instead of
download.pytorch.org, names and hash checks unchanged.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from resnet_gui.engine.errors import CheckpointError, EngineError
from resnet_gui.engine.fileio import atomic_write_many, clean_stale_temp_files

log = logging.getLogger(__name__)

__all__ = [
    "DownloadCancelled",
    "DownloadFailed",
    "DownloadProgress",
    "WeightsSource",
    "cache_dir",
    "cached_imagenet",
    "check_weights_file",
    "download",
    "ensure_imagenet",
    "ensure_pretrained",
    "hash_prefix_of",
    "imagenet_source",
    "imagenet_sources",
    "import_weights_file",
    "is_url",
    "probe",
    "url_source",
]

#: Seconds to wait for the server to answer (connect, and each read): offline fails fast, not after minutes.
TIMEOUT_S = 5.0
#: Bytes read (and hashed) at a time; the stop flag is checked between chunks.
CHUNK = 1 << 16
#: Progress events at most this often (plus the last one).
PROGRESS_EVERY_S = 0.1
MIRROR_ENV = "RESNET_GUI_WEIGHTS_MIRROR"
_TORCHVISION_BASE = "https://download.pytorch.org/models/"
# torch.hub's own rule (HASH_REGEX): "name-<hex>.ext", the hex being the start of the file's SHA-256
_HASH = re.compile(r"-([a-f0-9]+)\.")


class DownloadFailed(EngineError):
    """The weights could not be fetched or did not check out; nothing was written to the cache."""


class DownloadCancelled(DownloadFailed):
    """The user stopped the download; nothing was written to the cache."""


@dataclass(frozen=True)
class DownloadProgress:
    """An event while downloading: `done` of `total` bytes (`total` None when the server does not say)."""

    url: str
    done: int
    total: int | None

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)


@dataclass(frozen=True)
class WeightsSource:
    """Where a weights file comes from and where it goes in the cache."""

    url: str
    filename: str
    arch: str | None = None  # expected architecture (None: any ResNet)
    num_classes: int | None = None  # expected fc rows (None: any)
    size_mb: float | None = None  # as torchvision's metadata states it
    label: str = ""  # e.g. "ResNet18_Weights.IMAGENET1K_V1"

    @property
    def hash_prefix(self) -> str | None:
        return hash_prefix_of(self.filename)

    @property
    def path(self) -> Path:
        return cache_dir() / self.filename

    def is_cached(self) -> bool:
        return self.path.is_file()


def cache_dir() -> Path:
    """torchvision's weights cache: `$TORCH_HOME/hub/checkpoints` (torch.hub.get_dir() + checkpoints)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix_of(filename: str) -> str | None:
    """The SHA-256 prefix torch.hub reads from a file name ("resnet18-f37072fd.pth" -> "f37072fd")."""
    match = _HASH.search(filename)
    return match.group(1) if match else None


def is_url(text: str | os.PathLike) -> bool:
    return str(text).strip().lower().startswith(("http://", "https://"))


def _mirrored(url: str) -> str:
    base = os.environ.get(MIRROR_ENV, "").strip()
    if base and url.startswith(_TORCHVISION_BASE):
        return base.rstrip("/") + "/" + url[len(_TORCHVISION_BASE) :]
    return url


def imagenet_sources(arch: str) -> list[WeightsSource]:
    """torchvision's ImageNet weights for `arch`, best first (its DEFAULT, then the others)."""
    import torchvision

    from resnet_gui.engine.model.build import check_arch

    arch = check_arch(arch)
    enum = torchvision.models.get_model_weights(arch)
    ordered = [enum.DEFAULT] + [w for w in enum if w != enum.DEFAULT]
    return [
        WeightsSource(
            url=_mirrored(w.url),
            filename=w.url.rsplit("/", 1)[-1],
            arch=arch,
            num_classes=len(w.meta["categories"]),
            size_mb=w.meta.get("_file_size"),
            label=f"{type(w).__name__}.{w.name}",
        )
        for w in ordered
    ]


def imagenet_source(arch: str) -> WeightsSource:
    """The file a download of ImageNet weights for `arch` fetches: torchvision's DEFAULT weights."""
    return imagenet_sources(arch)[0]


def cached_imagenet(arch: str) -> Path | None:
    """The ImageNet weights file for `arch` already in the cache (the best one there), or None."""
    for source in imagenet_sources(arch):
        if source.is_cached():
            return source.path
    return None


def url_source(url: str, arch: str | None = None) -> WeightsSource:
    """A weights file at any http(s) URL (a lab mirror, a fine-tuned backbone), cached under its name."""
    url = str(url).strip()
    if not is_url(url):
        raise EngineError(f"{url} is not an http:// or https:// address")
    name = os.path.basename(urlparse(url).path)
    if not name or name in (".", ".."):
        raise EngineError(f"{url} does not end in a file name (like resnet18-f37072fd.pth)")
    return WeightsSource(url=url, filename=name, arch=arch)


# ------------------------------------------------------------------------------------------- checking


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_weights_file(path: str | Path, arch: str | None = None, num_classes: int | None = None) -> str:
    """Read a weights file (never running code) and return its architecture; CheckpointError when it is
    not ResNet weights, not `arch` (when given) or not `num_classes`-way. The app calls it when the user
    picks a file or an architecture, so a mismatch shows then rather than at Start."""
    from resnet_gui.engine.config import arch_label
    from resnet_gui.engine.model.weights import check_finite, infer_arch, num_classes_of, read_state_dict

    path = Path(path)
    sd, _ = read_state_dict(path)
    found = infer_arch(sd)
    if arch is not None and found != arch:
        raise CheckpointError(
            f"{path.name} holds {arch_label(found)} weights, but {arch_label(arch)} is chosen: "
            f"choose {arch_label(found)} or another file"
        )
    if num_classes is not None and num_classes_of(sd) != num_classes:
        raise CheckpointError(f"{path.name} has {num_classes_of(sd)} outputs, not the {num_classes} expected")
    check_finite(path.name, sd)
    return found


def _verify(tmp: Path, source: WeightsSource, done: int, total: int | None) -> None:
    """Size, SHA-256 prefix and readable weights of a finished download, before it is renamed into place."""
    if total is not None and done != total:
        raise DownloadFailed(
            f"the download of {source.url} stopped after {done:,} of {total:,} bytes (connection lost?); "
            f"nothing was saved to {cache_dir()}"
        )
    prefix = source.hash_prefix
    if prefix is not None:
        digest = _sha256(tmp)
        if not digest.startswith(prefix):
            raise DownloadFailed(
                f"{source.filename} from {source.url} is corrupt (its SHA-256 starts {digest[: len(prefix)]}, "
                f"not {prefix}); nothing was saved to {cache_dir()}"
            )
    try:
        check_weights_file(tmp, source.arch, source.num_classes)
    except CheckpointError as exc:
        reason = str(exc).replace(tmp.name, source.filename)
        raise DownloadFailed(f"{source.url} gave unusable weights: {reason}") from exc


# ------------------------------------------------------------------------------------------ download


def _open(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "resnet-gui (torch.hub compatible)"})
    return urllib.request.urlopen(request, timeout=timeout)


def _network_error(url: str, exc: BaseException) -> DownloadFailed:
    where = cache_dir()
    if isinstance(exc, urllib.error.HTTPError):
        why = f"the server answered HTTP {exc.code} {exc.reason}"
    else:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            why = f"no answer within {TIMEOUT_S:g} s (offline, or a proxy/firewall in the way?)"
        elif isinstance(reason, socket.gaierror):
            why = "the server name cannot be resolved (offline?)"
        elif isinstance(reason, ConnectionRefusedError):
            why = "the connection was refused (offline, or no server there?)"
        else:
            why = str(getattr(reason, "strerror", None) or reason)
    return DownloadFailed(
        f"cannot download {url}: {why}. Put the file into {where} yourself "
        "(or use Import weights file… in the app)"
    )


def download(
    source: WeightsSource,
    on_event: Callable[[DownloadProgress], None] | None = None,
    stop: threading.Event | None = None,
    timeout: float | None = None,
) -> Path:
    """Fetch `source` into the cache and return its path (at once when it is already there).

    Progress comes as DownloadProgress events; `stop` cancels between chunks (DownloadCancelled). A
    failure of any kind (unreachable, HTTP error, cut short, wrong hash, not ResNet weights) raises
    DownloadFailed naming the URL and the folder, and leaves no file behind.
    """
    target = source.path
    if target.is_file():
        return target
    timeout = TIMEOUT_S if timeout is None else timeout
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadFailed(
            f"cannot create the weights folder {target.parent}: {exc.strerror or exc}"
        ) from exc
    clean_stale_temp_files(target.parent)  # what a killed download left
    log.info("downloading %s to %s", source.url, target)
    stop = stop or threading.Event()

    def fetch(tmp_name: str) -> None:
        tmp = Path(tmp_name)
        try:
            response = _open(source.url, timeout)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise _network_error(source.url, exc) from exc
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done, last = 0, 0.0
            with open(tmp, "wb") as f:
                while True:
                    if stop.is_set():
                        raise DownloadCancelled(f"download of {source.filename} cancelled; nothing was saved")
                    try:
                        block = response.read(CHUNK)
                    except (
                        OSError,
                        ValueError,
                        http.client.HTTPException,
                    ) as exc:  # reset, timeout, cut short
                        raise _network_error(source.url, exc) from exc
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    now = time.monotonic()
                    if on_event is not None and now - last >= PROGRESS_EVERY_S:
                        last = now
                        on_event(DownloadProgress(source.url, done, total))
                f.flush()
                os.fsync(f.fileno())
        if on_event is not None:
            on_event(DownloadProgress(source.url, done, total))
        _verify(tmp, source, done, total)

    try:
        atomic_write_many([(target, fetch)])
    except OSError as exc:
        raise DownloadFailed(f"cannot write {target}: {exc.strerror or exc}") from exc
    log.info("saved %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target


def ensure_imagenet(
    arch: str,
    on_event: Callable[[DownloadProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """ImageNet weights for `arch` on disk: the cached file, else torchvision's DEFAULT downloaded."""
    return cached_imagenet(arch) or download(imagenet_source(arch), on_event, stop)


def ensure_pretrained(
    choice: str,
    arch: str | None = None,
    on_event: Callable[[DownloadProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> str:
    """A `--pretrained` value made usable offline: "imagenet" downloads when not cached (and stays
    "imagenet"), a URL becomes the cached file's path; "none" and paths come back unchanged."""
    text = str(choice).strip()
    if text.lower() == "imagenet" and arch is not None:
        ensure_imagenet(arch, on_event, stop)
        return "imagenet"
    if is_url(text):
        return str(download(url_source(text, arch), on_event, stop))
    return text


def import_weights_file(path: str | Path, arch: str) -> Path:
    """Copy a user's copy of torchvision's ImageNet file for `arch` into the cache, under its own name.

    The file must be one of torchvision's files for `arch` (its SHA-256 matches one of their names) and
    hold readable `arch` weights; other weights are refused (start from them with "From file…" instead).
    """
    from resnet_gui.engine.config import arch_label

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    check_weights_file(path, arch)
    digest = _sha256(path)
    for source in imagenet_sources(arch):
        if source.hash_prefix and digest.startswith(source.hash_prefix):
            if not source.is_cached():
                source.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_many([(source.path, lambda tmp: shutil.copyfile(path, tmp))])
            return source.path
    names = " or ".join(s.filename for s in imagenet_sources(arch))
    raise CheckpointError(
        f"{path.name} holds {arch_label(arch)} weights but is not torchvision's ImageNet file ({names}); "
        "use Pretrained: From file… to start from it"
    )


def probe(url: str, timeout: float | None = None) -> str | None:
    """None when `url` can be fetched (a HEAD request answers), else why not, in words."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "resnet-gui"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S if timeout is None else timeout):
            return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(_network_error(url, exc))
