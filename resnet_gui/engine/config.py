"""The contract the UI, the CLI and the engine share: configs, presets, names and defaults.

Torch-free on purpose: the Train form and the CLI parser are built from these before torch has loaded
(seconds), and every default lives here once (DESIGN.md section 1, "one home per decision").
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Architectures the engine builds, smallest first.
ARCHS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
#: Augmentation presets of the one recipe (engine/data/transforms.py).
AUGMENT_PRESETS: tuple[str, ...] = ("none", "light", "strong")
#: Device choices offered to a user; "auto" picks CUDA, then MPS, then the CPU.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: "pretrained" values besides a path to a weights file.
PRETRAINED_CHOICES: tuple[str, ...] = ("none", "imagenet")

#: The normalisation torchvision's ImageNet weights expect; stored in every checkpoint we write.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Default peak learning rates (AdamW). From scratch the whole net learns at LR_SCRATCH; when starting
#: from pretrained weights the new head learns at LR_FINETUNE and the backbone at a quarter of it
#: (benchmarks/recipe_compare.py --finetune: a quarter beat a tenth and the classic constant 2e-4).
LR_SCRATCH = 2e-3
LR_FINETUNE = 2e-3
BACKBONE_LR_FACTOR = 0.25

#: Bounds a config is checked against (the GUI's spin boxes use the same numbers).
IMG_SIZE_RANGE = (16, 1024)
#: Seeds torch and Python's `random` both accept.
SEED_RANGE = (0, 2**63 - 1)
EPOCHS_MAX = 1000
BATCH_SIZE_MAX = 4096

#: Early stopping: what "stops improving" is judged on, and the patience the app's
#: "Train until it stops improving" option uses (epochs without a new best before the run ends).
MONITORS: tuple[str, ...] = ("val_acc", "val_loss")
PATIENCE_DEFAULT = 3
#: Shapes of the learning-rate schedule after the warm-up (engine/train/optim.py).
SCHEDULES: tuple[str, ...] = ("cosine", "linear", "constant")
#: Progressive resizing: the first epochs train at this share of img_size, growing to the full size by
#: PROGRESSIVE_FULL_AT of the run (the rest, and validation, at full size). engine/train/schedule.py.
PROGRESSIVE_START = 0.5
PROGRESSIVE_FULL_AT = 0.75
#: EMA of the weights: half-life as a share of the run's optimizer steps (engine/train/ema.py).
EMA_HALF_LIFE = 0.05
#: With `last_every=None` (the default) `last` and its resume state are written after an epoch only when
#: this many seconds have passed since the previous write (and always at the end, and on Stop): a
#: ResNet-18 `last` is 44 MB of weights + 89 MB of optimizer state, written and fsynced in ~0.4 s on a
#: quiet disk (2 s on a busy one), a quarter of a 1.6-s epoch on a small data set. Epochs longer than
#: this write every epoch, as before. docs/RELIABILITY.md, docs/PERFORMANCE.md.
LAST_INTERVAL_S = 30.0
#: BatchNorm's running statistics (what validation and the saved model use) must reflect this epoch's
#: weights: at most this share of what they held before an epoch survives it. PyTorch's momentum 0.1 keeps
#: 0.9 ** steps, i.e. 53% after a 6-step epoch of a small data set (validation then sees stale statistics,
#: chance-level figures in the first epochs); fewer than ~28 steps per epoch raise the momentum to
#: 1 - BN_KEEP_PER_EPOCH ** (1 / steps). None: PyTorch's 0.1 always. engine/train/recipe.py.
BN_KEEP_PER_EPOCH: float | None = 0.05


#: Environment variable naming the app's data folder (runs/ inside it); tests point it at a temp folder.
HOME_ENV = "RESNET_GUI_HOME"


def app_data_dir() -> Path:
    """The app's data folder, shared by the GUI and the CLI: `$RESNET_GUI_HOME` when set, else the
    platform's per-user data folder (`$XDG_DATA_HOME/resnet-gui`, i.e. ~/.local/share/resnet-gui on Linux)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "resnet-gui"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "resnet-gui"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "resnet-gui"


def default_runs_dir() -> Path:
    """The one runs folder: `train` (CLI and app) writes `<it>/<run>/`, `resnet-gui runs` and the app's
    Runs list read it."""
    return app_data_dir() / "runs"


def arch_label(arch: str) -> str:
    """`resnet50` -> `ResNet-50`."""
    return "ResNet-" + arch.removeprefix("resnet")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs. Defaults are what we would choose for someone who changes nothing;
    the GUI's form and the CLI's options start from these same values."""

    data_dir: str
    arch: str = "resnet18"
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None  # None: LR_SCRATCH, or LR_FINETUNE when pretrained
    img_size: int | None = None  # None: chosen from the images (median short side, 32..224)
    val_split: float = 0.2
    pretrained: str = "none"  # "none" | "imagenet" | path to a weights file
    freeze_backbone: bool = False
    zero_init_residual: bool = False
    augment: str = "light"
    balance: bool = False
    device: str = "auto"
    workers: int | None = None  # None: chosen by the device plan (engine/device.py)
    mp_context: str | None = None  # DataLoader worker start method; None: the platform's default.
    # The app passes "forkserver": forking a process that runs Qt threads is unsafe.
    seed: int = 0
    out_dir: str = field(default_factory=lambda: str(default_runs_dir()))  # the runs folder the app shares
    resume: str | None = None
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_frac: float = 0.05
    amp: bool = True
    cache_images: bool = True  # decode once into RAM when the data set fits (engine/data/cache.py)
    run_name: str | None = None  # folder inside out_dir; None: <dataset>-<arch>-<timestamp>
    sync_bn: bool = False  # several processes: BatchNorm statistics over the global batch (SyncBatchNorm)
    # "A better model sooner" (issue 17): each measured in benchmarks/recipe_compare.py, docs/PERFORMANCE.md
    patience: int | None = None  # early stopping: end after this many epochs without a new best; None: off
    monitor: str = "val_acc"  # what patience and `best` are judged on: one of MONITORS
    ema: bool = False  # validate and save an exponential moving average of the weights (train/ema.py)
    progressive_resize: bool = (
        False  # train at smaller images early, full size at the end (train/schedule.py)
    )
    schedule: str = "cosine"  # the LR schedule's shape after warm-up: one of SCHEDULES
    flip_tta: bool = False  # validate on each image and its mirror image, logits averaged
    last_every: int | None = None  # `last` (+ resume state) every k epochs and at the end; None: every
    # epoch, but at most once per LAST_INTERVAL_S (a kill loses at most that plus one epoch)

    def problems(self) -> list[str]:
        """What is wrong with this config, in words a user can act on (empty: nothing)."""
        out = []
        if self.arch not in ARCHS:
            out.append(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.epochs < 1:
            out.append("epochs must be at least 1")
        if self.batch_size < 1:
            out.append("batch size must be at least 1")
        if self.lr is not None and not (0 < self.lr < 10):
            out.append(f"learning rate {self.lr} is out of range (try 1e-3)")
        lo, hi = IMG_SIZE_RANGE
        if self.img_size is not None and not (lo <= self.img_size <= hi):
            out.append(f"image size {self.img_size} is out of range ({lo}..{hi} px)")
        if not (0.0 <= self.val_split < 1.0):
            out.append(f"validation split {self.val_split} must be in [0, 1)")
        if not (SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]):
            out.append(f"seed {self.seed} is out of range ({SEED_RANGE[0]}..{SEED_RANGE[1]})")
        if self.augment not in AUGMENT_PRESETS:
            out.append(f"unknown augmentation {self.augment!r}; choose one of {', '.join(AUGMENT_PRESETS)}")
        out += self._recipe_problems()
        return out

    def _recipe_problems(self) -> list[str]:
        out = []
        if self.patience is not None and self.patience < 1:
            out.append(f"patience must be at least 1 epoch, not {self.patience}")
        if self.monitor not in MONITORS:
            out.append(f"unknown monitor {self.monitor!r}; choose one of {', '.join(MONITORS)}")
        if self.schedule not in SCHEDULES:
            out.append(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.last_every is not None and self.last_every < 1:
            out.append(f"last_every must be at least 1 epoch, not {self.last_every}")
        return out

    def to_json(self) -> dict:
        return asdict(self)


#: The defaults, for forms and parsers: `DEFAULTS.epochs`, `DEFAULTS.batch_size`, ...
DEFAULTS = TrainConfig(data_dir="")


@dataclass
class TrainResult:
    """What a run produced; `to_json()` is the CLI's `train --json` object."""

    checkpoint: str | None
    last_checkpoint: str | None
    arch: str
    classes: list[str]
    epochs: int
    best_val_acc: float | None
    val_acc: float | None
    val_loss: float | None
    train_loss: float | None
    wall_s: float
    train_img_per_s: float
    device: str
    device_name: str
    img_size: int
    stopped: bool
    skipped: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    evaluation: dict | None = None  # EvalResult.summary() of the best model on the validation split
    processes: int = 1  # training processes (DDP world size); train_img_per_s counts all of them
    problems: list[str] = field(default_factory=list)  # what the dataset scan found (DatasetIndex.problems)
    stop_reason: str = "completed"  # "completed" | "early_stopping" | "stopped" (the user's Stop)
    best_epoch: int | None = None  # the epoch the `checkpoint` (best model) comes from
    stop_detail: str = ""  # in words, for early stopping: what did not improve, and since when

    def to_json(self) -> dict:
        return asdict(self)
