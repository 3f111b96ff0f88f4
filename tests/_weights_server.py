"""A weights server on 127.0.0.1 for the download tests, and weights files the tests make.

`WeightsServer` serves `files[name] = bytes` from a thread, counts requests per path, and can misbehave
per name: an HTTP status (404, 500), or a body cut short after half its Content-Length.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import torchvision


class WeightsServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}  # name -> HTTP status to answer instead
        self.truncate: set[str] = set()  # names whose body stops half-way
        self.slow: set[str] = set()  # names sent in 64 KiB pieces 20 ms apart (time to press Cancel)
        self.requests: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                name = self.path.lstrip("/")
                owner.requests[name] += 1
                status = owner.status.get(name, 200 if name in owner.files else 404)
                if status != 200:
                    self.send_error(status)
                    return
                data = owner.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                if name in owner.truncate:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if name in owner.slow:
                    try:
                        for i in range(0, len(data), 1 << 16):
                            self.wfile.write(data[i : i + (1 << 16)])
                            self.wfile.flush()
                            time.sleep(0.02)
                    except (BrokenPipeError, ConnectionResetError):  # the client cancelled
                        pass
                    return
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def add(self, stem: str, data: bytes, ext: str = ".pth") -> str:
        """Serve `data` as "<stem>-<sha256[:8]>.<ext>" (torch.hub's naming); returns the file name."""
        name = f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}{ext}"
        self.files[name] = data
        return name

    def __enter__(self) -> WeightsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def closed_port_url(name: str = "resnet18-00000000.pth") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once): "offline"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def skeleton_resnet18(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """The keys of resnet18 with real shapes where infer_arch looks, tiny tensors elsewhere (a few MB)."""
    with torch.device("meta"):
        shapes = torchvision.models.resnet18(num_classes=num_classes).state_dict()
    keep = {"layer1.0.conv1.weight", "layer1.0.conv2.weight", "fc.weight", "conv1.weight"}
    return {k: torch.zeros(v.shape) if k in keep else torch.zeros(1) for k, v in shapes.items()}


def saved(state_dict: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return buf.getvalue()


def random_resnet18_bytes(num_classes: int = 1000, seed: int = 0) -> bytes:
    """A random-init resnet18 state_dict, saved the way torchvision's files are (torch.save)."""
    torch.manual_seed(seed)
    return saved(torchvision.models.resnet18(num_classes=num_classes).state_dict())


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $TORCH_HOME in tmp; returns its hub/checkpoints folder (not created)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.delenv("RESNET_GUI_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server():
    with WeightsServer() as s:
        yield s


def serve_as_imagenet(monkeypatch: pytest.MonkeyPatch, server: WeightsServer, data: bytes) -> str:
    """Make "ImageNet resnet18" mean a file `server` serves (its name carries the real hash of `data`):
    hub.imagenet_sources is the one place that says which files those are. Returns the file name."""
    from resnet_gui.engine.model import hub

    name = server.add("resnet18", data)
    real = hub.imagenet_sources

    def sources(arch: str):
        found = real(arch)
        if arch != "resnet18":
            return found
        return [
            hub.WeightsSource(
                url=server.url(name),
                filename=name,
                arch="resnet18",
                num_classes=1000,
                size_mb=0.1,
                label=found[0].label,
            )
        ]

    monkeypatch.setattr(hub, "imagenet_sources", sources)
    return name
