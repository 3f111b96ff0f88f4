"""Multi-process training (DDP): the one place that knows about torch.distributed.

A run started by PyTorch's elastic launcher (`resnet-gui train --nproc N`, `torchrun ... -m resnet_gui train`,
or the app's child with `nproc > 1`) finds RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and MASTER_ADDR/PORT
in its environment; `process_group(device)` initialises from them (nccl on CUDA, one GPU per local rank;
gloo on the CPU) and destroys the group on the way out, also after an error. Without that environment it
yields `SINGLE`: world 1, no process group, no collective, nothing changes.

`DistContext` carries the helpers the loop needs, each a no-op (or the identity) in a single process:
sums across ranks (`all_sum`), the collective stop decision (`step_flags`, `any`), `barrier`,
`broadcast_object`, `gather_objects`, `sync_buffers` and `wrap` (DistributedDataParallel). Control
collectives (flags, objects, barriers) go through a gloo group even on CUDA, so they never make the CPU
wait for the GPU's queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import torch
from torch import nn

from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = [
    "SINGLE",
    "CpuSyncBatchNorm",
    "DistContext",
    "convert_sync_batchnorm",
    "launched_rank",
    "process_group",
    "watch_parent",
]

#: How long a collective may wait for the slowest rank (the final evaluation runs on rank 0 while the
#: others wait at a barrier: a large validation split must fit in it).
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched_rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) outside a launcher."""
    world = _env_int("WORLD_SIZE", 1)
    return (_env_int("RANK", 0), world) if world > 1 else (0, 1)


@dataclass
class DistContext:
    """Where this process stands in a run: rank, world size, local rank, and the collectives."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine (they share its cores)
    device: torch.device | None = None  # the device of this rank; None: the config's choice
    _control: object = field(default=None, repr=False)  # the gloo group for flags and objects

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives (identities in a single process) --------------------------------------------------

    def all_sum(self, *values: torch.Tensor) -> list[torch.Tensor]:
        """Element-wise sums across ranks of tensors on this rank's device (one collective)."""
        if not self.active:
            return list(values)
        import torch.distributed as dist

        flat = torch.cat([v.reshape(-1).to(torch.float64) for v in values])
        dist.all_reduce(flat)
        out, i = [], 0
        for v in values:
            out.append(flat[i : i + v.numel()].reshape(v.shape).to(v.dtype))
            i += v.numel()
        return out

    def step_flags(self, stop: bool, count: int) -> tuple[bool, int, bool]:
        """Before a DDP step: (any rank asked to stop, images in this global batch, some rank has none).
        One small CPU collective, so every rank takes the same branch and none hangs in the next one."""
        if not self.active:
            return stop, count, count == 0
        import torch.distributed as dist

        t = torch.tensor([float(stop), float(count), float(count == 0)], dtype=torch.float64)
        dist.all_reduce(t, group=self._control)
        return bool(t[0] > 0), int(t[1]), bool(t[2] > 0)

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True."""
        return self.step_flags(flag, 1)[0]

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier(group=self._control)

    def broadcast_object(self, obj: object) -> object:
        """Rank 0's `obj` on every rank (picklable objects only)."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self._control)
        return box[0]

    def gather_objects(self, obj: object) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list = [None] * self.world
        dist.all_gather_object(out, obj, group=self._control)
        return out

    # -- the model -------------------------------------------------------------------------------------

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train: `model` itself, or DistributedDataParallel around it (same parameters).
        Frozen parameters (requires_grad=False) are simply not synchronised."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        cuda = self.device is not None and self.device.type == "cuda"
        return DistributedDataParallel(model, device_ids=[self.device.index] if cuda else None)

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank: after an epoch each rank updated
        them with its own last batch, and every rank should evaluate the model rank 0 saves."""
        if not self.active:
            return
        import torch.distributed as dist

        for buf in model.buffers():
            dist.broadcast(buf, src=0)


SINGLE = DistContext()


@contextlib.contextmanager
def process_group(device_request: str) -> Iterator[DistContext]:
    """The run's DistContext: SINGLE outside a launcher; else an initialised process group, destroyed on
    the way out (also after an error). CUDA: nccl, `cuda:LOCAL_RANK`; CPU: gloo."""
    rank, world = launched_rank()
    if world <= 1:
        yield SINGLE
        return
    import torch.distributed as dist

    from resnet_gui.engine.device import resolve_device

    local_rank = _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_request)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise EngineError(
                f"local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                "start at most that many processes per node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=COLLECTIVE_TIMEOUT, device_id=device)
    elif device.type == "cpu":
        dist.init_process_group("gloo", timeout=COLLECTIVE_TIMEOUT)
    else:
        raise EngineError(f"multi-process training runs on CUDA GPUs or the CPU, not on {device.type}")
    try:
        control = dist.new_group(backend="gloo") if device.type == "cuda" else None
        ctx = DistContext(
            rank=rank,
            world=world,
            local_rank=local_rank,
            local_world=_env_int("LOCAL_WORLD_SIZE", 1),
            device=device,
            _control=control,
        )
        log.info("rank %d of %d on %s (%s)", rank, world, device, dist.get_backend())
        yield ctx
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


# -- SyncBatchNorm ----------------------------------------------------------------------------------------


class _SumAcrossRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward pass sums the gradients across ranks too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d with statistics over the global batch, on the CPU (torch's SyncBatchNorm is GPU-only).

    Sums of x and x^2 and the count go through one differentiable all-reduce, so the backward pass sums
    the statistics' gradients across ranks, as torch.nn.SyncBatchNorm does. Eval mode: plain BatchNorm.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype)
        stats = _SumAcrossRanks.apply(torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            if self.track_running_stats and self.running_mean is not None:
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                unbiased = var.detach() * (n / (n - 1)).clamp_min(0) if n > 1 else var.detach()
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm layers computing their statistics over the global batch (same parameters and state_dict
    keys, so checkpoints load into a plain model)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = CpuSyncBatchNorm
    return model


# -- a rank outlives nobody -------------------------------------------------------------------------------


def watch_parent(interval_s: float = 1.0) -> None:
    """Under a launcher: when the launcher dies (killed), end this rank at once instead of running on as
    an orphan (the launcher starts each rank in its own session, so a kill of its group misses them)."""
    if launched_rank()[1] <= 1 or os.name != "posix":
        return
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                if os.getpgid(0) == os.getpid():  # our own group (the launcher's doing): workers too
                    with contextlib.suppress(OSError):
                        os.killpg(os.getpid(), signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="watch-launcher", daemon=True).start()
