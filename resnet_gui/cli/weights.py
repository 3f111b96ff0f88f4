"""Weights on the command line: downloads with a progress bar on stderr, and `imagenet:ARCH` model specs.

`--pretrained imagenet|URL` and a CHECKPOINT argument `imagenet:resnet50` fetch what is missing into the
torch hub cache first (engine/model/hub.py); Ctrl+C stops a download and leaves nothing behind.
"""

from __future__ import annotations

import sys

from resnet_gui.cli.common import check_input_file


class DownloadBar:
    """DownloadProgress events as a bar (TTY) or a line per 25% (logs), on stderr."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._url = ""
        self._quarter = -1

    def __call__(self, e) -> None:
        if e.url != self._url:
            self._url, self._quarter = e.url, -1
            self.stream.write(f"downloading {e.url}\n")
        mb = f"{e.done / 2**20:.1f}" + (f"/{e.total / 2**20:.1f} MB" if e.total else " MB")
        pct = "" if e.fraction is None else f"  {e.fraction * 100:3.0f}%"
        if self.tty:
            width = 24
            filled = int(width * (e.fraction or 0))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {mb}{pct}\033[K")
            if e.total and e.done >= e.total:
                self.stream.write("\n")
        elif e.fraction is not None and int(e.fraction * 4) > self._quarter:
            self._quarter = int(e.fraction * 4)
            self.stream.write(f"  {mb}{pct}\n")
        self.stream.flush()


def fetch_pretrained(choice: str, arch: str) -> str:
    """`--pretrained` made usable: "imagenet" downloaded when not cached, a URL into the cache (its path)."""
    from resnet_gui.engine.model import hub

    if str(choice).strip().lower() != "imagenet" and not hub.is_url(choice):
        return choice
    resolved = hub.ensure_pretrained(choice, arch, on_event=DownloadBar())
    return resolved


def check_model(checkpoint: str) -> None:
    """A CHECKPOINT argument: an existing file, or `imagenet:ARCH` (its weights downloaded if needed)."""
    from resnet_gui.engine.model import imagenet

    if imagenet.is_spec(checkpoint):
        path = imagenet.ensure_spec(checkpoint, on_event=DownloadBar())
        print(f"{checkpoint}: torchvision's ImageNet weights, {path}", file=sys.stderr)
    else:
        check_input_file(checkpoint)


def default_export_name(checkpoint: str, fmt: str) -> str | None:
    """`export imagenet:resnet50` writes imagenet-resnet50.onnx here (no ':' in file names)."""
    from resnet_gui.engine.model import imagenet

    if not imagenet.is_spec(checkpoint):
        return None
    return f"imagenet-{imagenet.parse_spec(checkpoint)}" + (".onnx" if fmt == "onnx" else ".torchscript.pt")


def compact_eval(result):
    """An ImageNet model's EvalResult with only the classes that occur (as true or predicted class):
    the 1,000 x 1,000 confusion matrix shrinks to those rows and columns, losing no count."""
    import dataclasses

    m = result.confusion_matrix
    keep = [i for i in range(len(result.classes)) if any(m[i]) or any(row[i] for row in m)]
    names = {result.classes[i] for i in keep}
    return dataclasses.replace(
        result,
        classes=[result.classes[i] for i in keep],
        confusion_matrix=[[m[i][j] for j in keep] for i in keep],
        per_class=[row for row in result.per_class if row["class"] in names],
    )
