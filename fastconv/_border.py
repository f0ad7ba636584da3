"""Small padded pieces of an NHWC array, for the outputs whose windows reach the padding.

The index maps come from ``_geometry.pad_index`` (np.pad's meaning; -1 marks the
constant). A piece is gathered in one step and is only as large as the outputs it
serves need, so no caller ever holds a padded copy of a whole image.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def padded_block(x4: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: Any) -> np.ndarray:
    """``x4[:, rows][:, :, cols]`` with every -1 row or column set to ``fill``: a block
    of the padded array, C-contiguous, of shape (N, len(rows), len(cols), C)."""
    block: np.ndarray = x4[:, np.maximum(rows, 0)[:, None], np.maximum(cols, 0)[None, :]]
    outside_rows, outside_cols = rows < 0, cols < 0
    if outside_rows.any():
        block[:, outside_rows] = fill
    if outside_cols.any():
        block[:, :, outside_cols] = fill
    return block
