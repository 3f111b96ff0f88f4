"""Downloading weights (engine/model/hub.py) against a loopback server: success, cache, broken downloads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from resnet_gui.engine.errors import CheckpointError, EngineError
from resnet_gui.engine.model import hub
from resnet_gui.engine.model.build import build_model, imagenet_weights_file
from tests._weights_server import (
    closed_port_url,
    saved,
    serve_as_imagenet,
    skeleton_resnet18,
)


def listing(folder: Path) -> list[str]:
    """Every file in the cache folder, hidden temp files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_names_and_folder_follow_torchvision(torch_home: Path) -> None:
    source = hub.imagenet_source("resnet18")
    assert source.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert source.path == torch_home / "resnet18-f37072fd.pth"
    assert source.hash_prefix == "f37072fd"
    assert hub.imagenet_source("resnet50").filename == "resnet50-11ad3fa6.pth"  # DEFAULT = V2
    assert hub.hash_prefix_of("backbone.safetensors") is None


def test_mirror_keeps_names(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hub.MIRROR_ENV, "http://mirror.lab/torch/")
    source = hub.imagenet_source("resnet34")
    assert source.url == "http://mirror.lab/torch/resnet34-b627a593.pth"
    assert source.filename == "resnet34-b627a593.pth"


def test_download_checks_and_caches(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18(7)))
    events: list[hub.DownloadProgress] = []
    path = hub.download(hub.url_source(server.url(name), "resnet18"), on_event=events.append)
    assert path == torch_home / name
    assert path.read_bytes() == server.files[name]
    assert events and events[-1].done == events[-1].total == len(server.files[name])
    assert listing(torch_home) == [name]  # no temp file left

    again = hub.download(hub.url_source(server.url(name), "resnet18"))  # cached: no second request
    assert again == path and server.requests[name] == 1


def test_truncated_download_leaves_nothing(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18()))
    server.truncate.add(name)
    with pytest.raises(hub.DownloadFailed, match=r"stopped after .* of .* bytes") as info:
        hub.download(hub.url_source(server.url(name)))
    assert str(torch_home) in str(info.value)
    assert listing(torch_home) == []


def test_corrupt_download_hash_mismatch(server, torch_home: Path) -> None:
    data = saved(skeleton_resnet18())
    name = server.add("backbone", data)
    server.files[name] = data[:-10] + b"0123456789"  # same size, different bytes
    with pytest.raises(hub.DownloadFailed, match="corrupt") as info:
        hub.download(hub.url_source(server.url(name)))
    assert name in str(info.value) and server.url(name) in str(info.value)
    assert listing(torch_home) == []


def test_not_weights_without_hash_in_name_is_refused(server, torch_home: Path) -> None:
    server.files["weights.pth"] = b"<html>login page</html>"
    with pytest.raises(hub.DownloadFailed, match="unusable weights"):
        hub.download(hub.url_source(server.url("weights.pth")))
    assert listing(torch_home) == []


def test_wrong_architecture_from_url_is_refused(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18()))
    with pytest.raises(hub.DownloadFailed, match="ResNet-18 weights, but ResNet-50 is chosen"):
        hub.download(hub.url_source(server.url(name), "resnet50"))
    assert listing(torch_home) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_name_url_and_folder(server, torch_home: Path, status: int) -> None:
    name = server.add("backbone", saved(skeleton_resnet18()))
    server.status[name] = status
    with pytest.raises(hub.DownloadFailed, match=f"HTTP {status}") as info:
        hub.download(hub.url_source(server.url(name)))
    assert server.url(name) in str(info.value) and str(torch_home) in str(info.value)
    assert listing(torch_home) == []


def test_offline_fails_fast_with_a_clear_error(torch_home: Path) -> None:
    url = closed_port_url()
    t0 = time.monotonic()
    with pytest.raises(hub.DownloadFailed, match="refused") as info:
        hub.download(hub.url_source(url))
    assert time.monotonic() - t0 < hub.TIMEOUT_S  # refused at once, no waiting for a timeout
    assert url in str(info.value) and str(torch_home) in str(info.value)
    assert hub.probe(url) is not None and "refused" in hub.probe(url)


def test_cancel_mid_way_leaves_nothing(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18()))
    stop = threading.Event()
    events: list[hub.DownloadProgress] = []

    def on_event(e: hub.DownloadProgress) -> None:
        events.append(e)
        stop.set()  # the user presses Cancel at the first progress report

    with pytest.raises(hub.DownloadCancelled):
        hub.download(hub.url_source(server.url(name)), on_event=on_event, stop=stop)
    assert events[0].done < len(server.files[name])
    assert listing(torch_home) == []


def test_a_killed_download_is_cleaned_up_next_time(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18()))
    torch_home.mkdir(parents=True)
    stale = torch_home / f".{name}.999999999.abc.tmp"  # a temp file of a process that is gone
    stale.write_bytes(b"half")
    hub.download(hub.url_source(server.url(name)))
    assert listing(torch_home) == [name]


def test_imagenet_download_then_build(server, torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    sd = skeleton_resnet18()
    sd["conv1.weight"] = torch.randn(sd["conv1.weight"].shape)
    name = serve_as_imagenet(monkeypatch, server, saved(sd))
    with pytest.raises(EngineError, match="not on this machine"):
        build_model("resnet18", 3, pretrained="imagenet")  # build_model itself never downloads
    assert hub.ensure_pretrained("imagenet", "resnet18") == "imagenet"
    assert imagenet_weights_file("resnet18") == torch_home / name
    hub.ensure_pretrained("imagenet", "resnet18")  # cached now
    assert server.requests[name] == 1


def test_pretrained_url_resolves_to_the_cached_file(server, torch_home: Path) -> None:
    name = server.add("backbone", saved(skeleton_resnet18(5)))
    url = server.url(name)
    assert hub.ensure_pretrained(url, "resnet18") == str(torch_home / name)
    assert hub.ensure_pretrained("none", "resnet18") == "none"


def test_check_weights_file_names_the_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "mine.pth"
    torch.save(skeleton_resnet18(4), path)
    assert hub.check_weights_file(path, "resnet18") == "resnet18"
    with pytest.raises(CheckpointError, match="mine.pth holds ResNet-18 weights, but ResNet-34 is chosen"):
        hub.check_weights_file(path, "resnet34")
    (tmp_path / "photo.pth").write_bytes(b"\x89PNG....")
    with pytest.raises(CheckpointError, match="not a model checkpoint"):
        hub.check_weights_file(tmp_path / "photo.pth", "resnet18")


def test_import_weights_file_copies_torchvisions_file_under_its_name(
    server, torch_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = saved(skeleton_resnet18())
    name = serve_as_imagenet(monkeypatch, server, data)
    user_copy = tmp_path / "downloaded on a laptop.pth"
    user_copy.write_bytes(data)
    assert hub.import_weights_file(user_copy, "resnet18") == torch_home / name
    assert (torch_home / name).read_bytes() == data
    assert server.requests[name] == 0  # nothing fetched

    other = tmp_path / "someone-elses-resnet18.pth"
    torch.save(skeleton_resnet18(3), other)
    with pytest.raises(CheckpointError, match="not torchvision's ImageNet file"):
        hub.import_weights_file(other, "resnet18")
    with pytest.raises(CheckpointError, match="ResNet-18 weights, but ResNet-50 is chosen"):
        hub.import_weights_file(user_copy, "resnet50")


def test_safetensors_from_a_url(server, torch_home: Path) -> None:
    from safetensors.torch import save

    name = server.add("backbone", save(skeleton_resnet18(3)), ext=".safetensors")
    path = hub.download(hub.url_source(server.url(name), "resnet18"))
    assert path == torch_home / name and path.suffix == ".safetensors"


class _Payload:
    """Stands for code hidden in a pickle."""


def test_pickled_code_from_a_url_is_refused_never_run(server, torch_home: Path) -> None:
    sd = skeleton_resnet18()
    sd["extra"] = _Payload()
    name = server.add("backbone", saved(sd))
    with pytest.raises(hub.DownloadFailed, match="pickled code or Python objects"):
        hub.download(hub.url_source(server.url(name)))
    assert listing(torch_home) == []
