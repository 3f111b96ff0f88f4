"""Content and perceptual hashes, and the groups they form (numpy + Pillow, torch-free).

Exact duplicates share a BLAKE2b digest of the file bytes. Near-duplicates (re-encoded, resized, slightly
cropped or brightened copies) are within a few bits of each other in a 64-bit difference hash (dHash:
is each pixel of a 9x8 grey thumbnail brighter than its right neighbour) and a 64-bit perceptual hash
(pHash: signs of the 8x8 low-frequency DCT of a 32x32 thumbnail against their median), both as in the
`imagehash` library. Smooth images (a plain disc on a dark ground) agree in both hashes without being the
same picture, so a pair the hashes find is confirmed on a 32x32 grey thumbnail: the mean absolute
difference of the two (Lanczos-resized, each standardised) is small for a copy (<= 0.032 over resized,
JPEG re-encoded and brightened demo images) and not for another image (>= 0.042 between the most alike of
480 demo images, all pairs the hashes let through).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

NEAR_DHASH_BITS = 10  # of 64: at most this many bits differ in the dHash ...
NEAR_PHASH_BITS = 12  # ... and in the pHash (re-encoded or resized copies differ by 0-6)
NEAR_PIXEL_DIFF = 0.037  # thumbnails (standardised) at most this far apart on average
THUMB_SIDE = 32
_BLOCK = 256  # rows compared at a time: memory stays ~ 8 * _BLOCK * n bytes per temporary


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b-128 of the file's bytes (hex)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _bits_to_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits.ravel():
        out = (out << 1) | int(bool(b))
    return out


def dhash(img: Image.Image) -> int:
    """64-bit difference hash of `img` (any mode)."""
    grey = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int(grey[:, 1:] > grey[:, :-1])


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(img: Image.Image) -> int:
    """64-bit perceptual hash of `img`: low 8x8 DCT coefficients of a 32x32 grey thumbnail vs their median."""
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8]
    return _bits_to_int(low > np.median(low))


def thumbnail(img: Image.Image) -> np.ndarray:
    """32x32 grey uint8 thumbnail: what `pixel_diff` compares."""
    return np.asarray(
        img.convert("L").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS), dtype=np.uint8
    )


def pixel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, each standardised (brightness and contrast drop out)."""
    za, zb = (t.astype(np.float32) for t in (a, b))
    za = (za - za.mean()) / (za.std() + 1e-3)
    zb = (zb - zb.mean()) / (zb.std() + 1e-3)
    return float(np.abs(za - zb).mean())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def exact_groups(digests: Sequence[str | None]) -> list[list[int]]:
    """Indices sharing a digest, groups of two or more, each group sorted, groups by first index."""
    by: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d is not None:
            by.setdefault(d, []).append(i)
    return sorted((g for g in by.values() if len(g) > 1), key=lambda g: g[0])


def near_pairs(
    dhashes: Sequence[int | None],
    phashes: Sequence[int | None],
    max_dhash: int = NEAR_DHASH_BITS,
    max_phash: int = NEAR_PHASH_BITS,
) -> list[tuple[int, int]]:
    """(i, j), i < j, of images within both distances; O(n^2) bit counts in numpy blocks."""
    ok = [i for i, (d, p) in enumerate(zip(dhashes, phashes, strict=True)) if d is not None and p is not None]
    if len(ok) < 2:
        return []
    idx = np.array(ok)
    dh = np.array([dhashes[i] for i in ok], dtype=np.uint64)
    ph = np.array([phashes[i] for i in ok], dtype=np.uint64)
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(ok), _BLOCK):
        stop = min(len(ok), start + _BLOCK)
        dd = np.bitwise_count(dh[start:stop, None] ^ dh[None, :])
        pd = np.bitwise_count(ph[start:stop, None] ^ ph[None, :])
        hit = (dd <= max_dhash) & (pd <= max_phash)
        rows, cols = np.nonzero(hit)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if c > i:
                pairs.append((int(idx[i]), int(idx[c])))
    return sorted(pairs)


def cosine_pairs(embeddings: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(i, j), i < j, whose embedding cosine similarity is at least `threshold` (rows L2-normalised here)."""
    if len(embeddings) < 2:
        return []
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(e), _BLOCK):
        sim = e[start : start + _BLOCK] @ e.T
        rows, cols = np.nonzero(sim >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if c > start + r:
                pairs.append((start + r, int(c)))
    return sorted(pairs)


def union_groups(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components (two or more members) of the pairs over n items."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
