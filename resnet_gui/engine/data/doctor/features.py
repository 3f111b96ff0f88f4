"""What the quick label-error model sees: a few hundred numbers per image (numpy + Pillow, torch-free).

No pretrained backbone ships with the app (and none is downloaded), and training a network k times is too
slow for a check, so without a checkpoint the cross-validated model is a logistic regression on classic
descriptors of a 32x32 grey thumbnail and the colours: HOG (4x4 cells x 9 unsigned orientations), a
36-bin edge-orientation histogram with the magnitudes of its Fourier series (rotation-invariant: a square
shows the 2nd harmonic, a triangle the 3rd), a radial power spectrum, an 8x8 thumbnail, colour
statistics and a 4x4 colour layout. With a checkpoint, its penultimate-layer embeddings replace these (`report.py`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 32
_CELLS = 4
_BINS = 9
_ORIENT_BINS = 36


def image_features(img: Image.Image) -> np.ndarray:
    """The descriptor of one RGB image, float32."""
    rgb = np.asarray(img.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey = (grey - grey.mean()) / (grey.std() + 1e-3)
    gy, gx = np.gradient(grey)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: a light shape on dark and dark on light agree

    parts = [_hog(mag, ang), _orientation_spectrum(mag, ang), _radial_spectrum(grey)]
    small = np.asarray(Image.fromarray(grey).resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
    parts.append(small.ravel() / 4.0)
    parts.append(_colour_stats(rgb))
    parts.append(
        np.asarray(img.convert("RGB").resize((4, 4), Image.Resampling.BOX), dtype=np.float32).ravel() / 255.0
    )
    return np.concatenate(parts).astype(np.float32)


def _hog(mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
    cell = SIDE // _CELLS
    bins = np.minimum((ang / np.pi * _BINS).astype(int), _BINS - 1)
    out = np.zeros((_CELLS, _CELLS, _BINS), dtype=np.float32)
    for cy in range(_CELLS):
        for cx in range(_CELLS):
            sl = np.s_[cy * cell : (cy + 1) * cell, cx * cell : (cx + 1) * cell]
            out[cy, cx] = np.bincount(bins[sl].ravel(), weights=mag[sl].ravel(), minlength=_BINS)
    out /= np.linalg.norm(out, axis=2, keepdims=True) + 1e-3
    return out.ravel()


def _orientation_spectrum(mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
    bins = np.minimum((ang / np.pi * _ORIENT_BINS).astype(int), _ORIENT_BINS - 1)
    hist = np.bincount(bins.ravel(), weights=mag.ravel(), minlength=_ORIENT_BINS)
    hist = hist / (hist.sum() + 1e-6)
    spectrum = np.abs(np.fft.rfft(hist))[1:]  # rotation moves the histogram round, not its harmonics
    return np.concatenate([np.sort(hist)[::-1] * 4.0, spectrum * 8.0]).astype(np.float32)


def _radial_spectrum(grey: np.ndarray, rings: int = 8) -> np.ndarray:
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey))) ** 2
    yy, xx = np.indices(power.shape) - SIDE // 2
    r = np.minimum((np.hypot(yy, xx) / (SIDE / 2) * rings).astype(int), rings - 1)
    ring = np.bincount(r.ravel(), weights=power.ravel(), minlength=rings)
    return np.log1p(ring / power.size).astype(np.float32)


def _colour_stats(rgb: np.ndarray) -> np.ndarray:
    px = rgb.reshape(-1, 3) / 255.0
    hsv = np.asarray(Image.fromarray(rgb.astype(np.uint8)).convert("HSV"), dtype=np.float32).reshape(-1, 3)
    hue = np.bincount((hsv[:, 0] / 256 * 8).astype(int), weights=hsv[:, 1] / 255.0, minlength=8)
    hue = hue / (hue.sum() + 1e-6)
    return np.concatenate([px.mean(0), px.std(0), hue]).astype(np.float32)
