"""The training order of a multi-process run: each rank's share of every global batch.

`GlobalBatchSampler` batches a base sampler (the same RandomSampler or weighted sampler, with the same
seeded generator, that a single process would use) into global batches of `batch_size`, and yields rank
`rank`'s contiguous part of each (sizes differ by at most one). So every rank draws the same global
order, every index of an epoch goes to exactly one rank, and the union of the ranks' step-k batches is
the single process's step-k batch. With the loss of each rank weighted by its share (train/epoch.py),
a DDP step computes the single-process gradient.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch.utils.data import BatchSampler, Sampler

__all__ = ["GlobalBatchSampler", "rank_slice"]


def rank_slice(n: int, rank: int, world: int) -> slice:
    """Rank `rank`'s contiguous part of `n` items split `world` ways (the first n % world get one more)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches of this rank's share of each global batch drawn from `base`.

    A trailing partial global batch is kept (unless `drop_last`) only when it gives every rank at least
    two images: BatchNorm cannot train on one image per channel (1x1 feature maps), and every rank must
    take the same number of steps.
    """

    def __init__(self, base: Sampler[int], batch_size: int, rank: int, world: int, drop_last: bool):
        if batch_size < world:
            raise ValueError(f"a global batch of {batch_size} cannot be split over {world} processes")
        self.base, self.batch_size, self.rank, self.world = base, batch_size, rank, world
        self.drop_last = drop_last
        self._batches = BatchSampler(base, batch_size, drop_last)

    def _keep_tail(self) -> bool:
        tail = len(self.base) % self.batch_size  # type: ignore[arg-type]
        return not self.drop_last and tail >= 2 * self.world

    def __len__(self) -> int:
        full = len(self.base) // self.batch_size  # type: ignore[arg-type]
        return full + (1 if self._keep_tail() else 0)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches:
            if len(batch) < self.batch_size and not self._keep_tail():
                return
            yield self.part(batch)

    def part(self, batch: Sequence[int]) -> list[int]:
        return list(batch[rank_slice(len(batch), self.rank, self.world)])
