"""SciPy's boundary extension of a 2-D image (fill, wrap/circular, symm/symmetric).

The extension is ``pads = ((top, bottom), (left, right))`` around the image, with
SciPy's index rules, which keep repeating when the extension is longer than the
image. It is materialised whole, in bands of rows (for the FFT), or in small blocks
(for the border strips of large images).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _border, _geometry
from .._typing import PadMode, PadPairs

FILL, SYMM, WRAP, REFLECT = 0, 1, 2, 4  # SciPy's boundary codes


def pad_mode(bval: int) -> PadMode:
    """The np.pad mode of a non-fill boundary: SciPy's reflect_symm_index and
    circular_wrap_index (both keep repeating for extensions longer than the image)
    are np.pad's "symmetric" and "wrap"."""
    return "wrap" if bval == WRAP else "symmetric"


def extension_index(size: int, before: int, after: int, bval: int) -> np.ndarray:
    """Source index of each extended position (``pad_mode``'s)."""
    return _geometry.pad_index(size, before, 0, size + before + after, pad_mode(bval))


def extend(image: np.ndarray, pads: PadPairs, bval: int, fill: np.generic) -> np.ndarray:
    """The image with SciPy's boundary extension materialised."""
    (top, bottom), (left, right) = pads
    h, w = image.shape
    return extended_rows(image, pads, bval, fill, 0, h + top + bottom, w + left + right)


def extended_rows(image: np.ndarray, pads: PadPairs, bval: int, fill: np.generic,
                  r0: int, r1: int, width: int) -> np.ndarray:
    """Rows r0 .. r1 - 1 of the extended image, ``width`` columns wide; rows and columns
    past the extension are zeros (room for whole FFT blocks, never read by a kept
    output)."""
    (top, bottom), (left, right) = pads
    h, w = image.shape
    ext_h, ext_w = h + top + bottom, w + left + right
    band = np.empty((r1 - r0, width), dtype=image.dtype)
    m = max(0, min(r1, ext_h) - r0)  # rows of the band inside the extension
    band[m:] = 0
    band[:m, ext_w:] = 0
    core = band[:m, :ext_w]
    if bval == FILL:
        j0, j1 = min(max(r0 - top, 0), h), min(max(r0 + m - top, 0), h)  # image rows here
        a, b = j0 + top - r0, j1 + top - r0
        core[:a] = fill
        core[b:] = fill
        core[a:b, :left] = fill
        core[a:b, left + w:] = fill
        core[a:b, left:left + w] = image[j0:j1]
        return band
    rows = extension_index(h, top, bottom, bval)[r0:r0 + m]
    core[:, left:left + w] = image[rows]
    cols = extension_index(w, left, right, bval)
    if left:
        core[:, :left] = core[:, left + cols[:left]]
    if right:
        core[:, left + w:] = core[:, left + cols[left + w:]]
    return band


def extended_block(image: np.ndarray, pads: PadPairs, bval: int, fill: np.generic,
                   r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Rows r0..r1-1, columns c0..c1-1 of the extended image."""
    (top, _), (left, _) = pads
    h, w = image.shape
    mode = "constant" if bval == FILL else pad_mode(bval)
    rows = _geometry.pad_index(h, top, r0, r1, mode)
    cols = _geometry.pad_index(w, left, c0, c1, mode)
    return _border.padded_block(image[np.newaxis, :, :, np.newaxis], rows, cols, fill)[0, :, :, 0]


def border_strips(in_shape: tuple[int, ...], k_shape: tuple[int, ...], pads: PadPairs,
                  out_shape: tuple[int, ...]) -> Optional[list[tuple[int, int, int, int]]]:
    """Output rectangles (r0, r1, c0, c1) whose windows reach the extension, or None when
    no output pixel is clear of it (``_geometry.border_strips`` at stride 1)."""
    interior = [_geometry.interior_range(n, k, 1, p[0], o)
                for n, k, p, o in zip(in_shape, k_shape, pads, out_shape)]
    if any(lo >= hi for lo, hi in interior):
        return None
    return _geometry.border_strips(in_shape, k_shape, (1, 1), pads, out_shape)
