"""SciPy's boundary extension of a 2-D image (fill, wrap/circular, symm/symmetric).

The extension is ``pads = ((top, bottom), (left, right))`` around the image, with
SciPy's index rules, which keep repeating when the extension is longer than the
image. It is materialised whole, in bands of rows (for the FFT), or in small blocks
(for the border strips of large images).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._typing import PadPairs

FILL, SYMM, WRAP, REFLECT = 0, 1, 2, 4  # SciPy's boundary codes


def extension_index(size: int, before: int, after: int, bval: int) -> np.ndarray:
    """Source index of each extended position, with SciPy's reflect_symm_index /
    circular_wrap_index (both keep repeating for extensions longer than the image)."""
    j = np.arange(-before, size + after)
    if bval == WRAP:
        return j % size
    k = np.where(j >= 0, j, -j - 1) % (2 * size)
    return np.where(k >= size, 2 * size - k - 1, k)


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
    (top, bottom), (left, right) = pads
    h, w = image.shape
    if bval != FILL:
        rows = extension_index(h, top, bottom, bval)[r0:r1]
        cols = extension_index(w, left, right, bval)[c0:c1]
        picked: np.ndarray = image[np.ix_(rows, cols)]
        return picked
    block = np.full((r1 - r0, c1 - c0), fill, dtype=image.dtype)
    j0, j1 = max(r0 - top, 0), min(r1 - top, h)
    i0, i1 = max(c0 - left, 0), min(c1 - left, w)
    if j1 > j0 and i1 > i0:
        block[j0 + top - r0:j1 + top - r0, i0 + left - c0:i1 + left - c0] = image[j0:j1, i0:i1]
    return block


def border_strips(in_shape: tuple[int, ...], k_shape: tuple[int, ...], pads: PadPairs,
                  out_shape: tuple[int, ...]) -> Optional[list[tuple[int, int, int, int]]]:
    """Output rectangles (r0, r1, c0, c1) whose windows reach the extension, or None when
    no output pixel is clear of it. Top and bottom strips span the full width; left and
    right ones the rows between."""
    (top, _), (left, _) = pads
    (h, w), (k_h, k_w), (o_h, o_w) = in_shape, k_shape, out_shape
    r_top, c_left = min(top, o_h), min(left, o_w)
    r_bot = min(max(r_top, top + h - k_h + 1), o_h)
    c_right = min(max(c_left, left + w - k_w + 1), o_w)
    if r_bot <= r_top or c_right <= c_left:
        return None
    strips = [(0, r_top, 0, o_w), (r_bot, o_h, 0, o_w),
              (r_top, r_bot, 0, c_left), (r_top, r_bot, c_right, o_w)]
    return [s for s in strips if s[1] > s[0] and s[3] > s[2]]
