"""Small padded pieces of an NHWC array, for the outputs whose windows reach the padding.

The index maps come from ``_geometry.pad_index`` (np.pad's meaning; -1 marks the
constant). A piece is gathered in one step and is only as large as the outputs it
serves need, so no caller ever holds a padded copy of a whole image.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

# Beyond this many runs of consecutive indices, one np.take beats a slice copy per run.
_MAX_RUNS = 32
# Beyond this many columns, a piece laid across is gathered whole and then transposed.
_MAX_ACROSS_COLUMNS = 32


def padded_block(x4: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: Any) -> np.ndarray:
    """``x4[:, rows][:, :, cols]`` with every -1 row or column set to ``fill``: a block
    of the padded array, C-contiguous, of shape (N, len(rows), len(cols), C)."""
    src_rows, src_cols = np.maximum(rows, 0), np.maximum(cols, 0)
    row_runs, col_runs = _runs(src_rows), _runs(src_cols)
    # Gathering one axis and then the other copies whole pixel runs; a single fancy
    # index with a (rows, cols) grid copies pixel by pixel, 3-5x slower. The first
    # gather sees the whole other axis, so the axis that shrinks the block more goes
    # first (an axis that is one run is a free view).
    rows_first = (row_runs == [0] or
                  (col_runs != [0] and rows.size * x4.shape[2] <= cols.size * x4.shape[1]))
    if rows_first:
        block = _gather(_gather(x4, src_rows, row_runs, 1), src_cols, col_runs, 2)
    else:
        block = _gather(_gather(x4, src_cols, col_runs, 2), src_rows, row_runs, 1)
    if not block.flags.owndata:  # both axes were single runs: no copy was made yet
        block = block.copy()
    outside_rows, outside_cols = rows < 0, cols < 0
    if outside_rows.any():
        block[:, outside_rows] = fill
    if outside_cols.any():
        block[:, :, outside_cols] = fill
    return block


def padded_block_across(x4: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                        fill: Any) -> np.ndarray:
    """``padded_block(x4, rows, cols, fill)`` with its rows and columns swapped, shape
    (N, len(cols), len(rows), C), C-contiguous: a tall, narrow piece laid along its long
    side, gathered column by column (a transposing copy of the whole block moved a few
    values per step and cost as much as the gather)."""
    if cols.size > _MAX_ACROSS_COLUMNS:
        return np.ascontiguousarray(padded_block(x4, rows, cols, fill).transpose(0, 2, 1, 3))
    src_rows = np.maximum(rows, 0)
    row_runs = _runs(src_rows)
    block = np.empty((x4.shape[0], cols.size, rows.size, x4.shape[3]), dtype=x4.dtype)
    for j, col in enumerate(cols.tolist()):
        if col < 0:
            block[:, j] = fill
        else:
            block[:, j] = _gather(x4[:, :, col], src_rows, row_runs, 1)
    outside_rows = rows < 0
    if outside_rows.any():
        block[:, :, outside_rows] = fill
    return block


def _runs(index: np.ndarray) -> Optional[list[int]]:
    """Where each run of consecutive values in ``index`` starts (a single run is [0]),
    or None when there are more than _MAX_RUNS runs."""
    n = index.size
    if int(index[-1]) - int(index[0]) == n - 1 and (n < 3 or bool((np.diff(index) == 1).all())):
        return [0]
    starts = (np.flatnonzero(np.diff(index) != 1) + 1).tolist()
    return None if len(starts) >= _MAX_RUNS else [0, *starts]


def _gather(a: np.ndarray, index: np.ndarray, runs: Optional[list[int]],
            axis: int) -> np.ndarray:
    """``np.take(a, index, axis)``: a view when ``index`` is one run of consecutive
    values; otherwise a copy made run by run (a slice copy moves a run at memory speed,
    where np.take copies index by index), or by np.take when the runs are many."""
    if runs is None:
        return np.take(a, index, axis=axis)
    lead = (slice(None),) * axis
    if len(runs) == 1:
        first = int(index[0])
        return a[lead + (slice(first, first + index.size),)]
    shape = list(a.shape)
    shape[axis] = index.size
    block = np.empty(shape, dtype=a.dtype)
    for at, end in zip(runs, [*runs[1:], index.size]):
        first = int(index[at])
        block[lead + (slice(at, end),)] = a[lead + (slice(first, first + end - at),)]
    return block
