"""fastconv.dask: every chunking gives the in-memory function's result, bit for bit.

The contract (``fastconv.dask``'s module docs): ``fcd.conv2d(x, ...).compute()`` equals
``fastconv.conv2d(x.compute(), ...)`` with the same method, and the pools likewise, for
every chunking, stride, dilation, padding and groups; ``fcd.correlate2d`` equals the
in-memory drop-in on the direct engine (``fcd.CORRELATE_POLICY``). Comparisons are of
the bytes (``np.array_equal`` on uint8 views), so that even the sign of a zero counts.

method="im2col" is the one exception: its GEMM (OpenBLAS) rounds a row differently with
the tile it belongs to (its small-matrix kernels, its edge tiles), and a chunk's tiles
are not the whole array's. The tests hold it to float rounding instead.

The graph is checked to read, for each output chunk, exactly the input chunks its
windows reach; and the functions run on real ``distributed.LocalCluster`` s, one with
in-process workers and one with worker processes (session-scoped, 2 workers of one
thread each).
"""
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import fastconv  # noqa: E402
import fastconv.dask as fcd  # noqa: E402
from fastconv import _dask_graph, _geometry  # noqa: E402
from fastconv.signal import with_policy  # noqa: E402

from conftest import assert_close  # noqa: E402

try:
    from _hypothesis_profiles import budget
except ImportError:  # the shared profiles are optional
    from hypothesis import settings

    def budget(n):
        return settings(max_examples=n, deadline=None)


def assert_identical(actual, expected):
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    same = (np.ascontiguousarray(actual).view(np.uint8)
            == np.ascontiguousarray(expected).view(np.uint8))
    assert same.all(), f"{np.count_nonzero(~same)} bytes differ"


def compute(array, frame=None):
    """One thread and no fusion surprises: the graph as built, task by task.

    ``frame`` True makes every task with more than one piece run as a frame (its
    largest piece in place, the edges on copies: ``_dask_graph._frame``), False none;
    None leaves the size threshold alone."""
    if frame is None:
        return array.compute(scheduler="sync")
    with mock.patch.object(_dask_graph, "MIN_FRAME_BYTES", 0 if frame else 1 << 62):
        return array.compute(scheduler="sync")


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------
@st.composite
def chunkings(draw, size):
    """Chunk sizes of an axis: one chunk, 1-pixel chunks, or uneven cuts."""
    kind = draw(st.sampled_from(["one", "pixels", "uneven", "uneven"]))
    if kind == "one" or size == 1:
        return (size,)
    if kind == "pixels":
        return (1,) * size
    cuts = draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=min(size - 1, 6)))
    edges = [0, *sorted(cuts), size]
    return tuple(b - a for a, b in zip(edges, edges[1:]))


paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 3),
    st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
              st.tuples(st.integers(0, 3), st.integers(0, 3))),
)
pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def images(draw, max_hw=14, max_c=4, batched=True):
    """(x as a chunked Dask array, x as NumPy): data exactly representable in float32."""
    n = draw(st.integers(1, 3)) if batched else None
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    c = draw(st.integers(1, max_c))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (h, w, c) if n is None else (n, h, w, c)
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32).astype(dtype)
    chunks = (draw(chunkings(h)), draw(chunkings(w)), (c,))
    if n is not None:
        chunks = (draw(chunkings(n)),) + chunks
    return da.from_array(data, chunks=chunks), data


# ---------------------------------------------------------------------------
# Bit-identity, drawn by Hypothesis
# ---------------------------------------------------------------------------
@budget(120)
@given(data=st.data(), image=images(max_c=4), stride=pairs, dilation=pairs,
       padding=paddings, method=st.sampled_from(["direct", "auto"]), frame=st.booleans())
def test_conv2d_bit_identical(data, image, stride, dilation, padding, method, frame):
    x, x_np = image
    c_in = x_np.shape[-1]
    groups = data.draw(st.sampled_from([g for g in (1, 2, c_in) if c_in % g == 0]))
    c_out = groups * data.draw(st.integers(1, 3))
    k_h, k_w = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w = rng.standard_normal((k_h, k_w, c_in // groups, c_out)).astype(x_np.dtype)
    bias = rng.standard_normal(c_out).astype(x_np.dtype) if data.draw(st.booleans()) else None
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                method=method)
    try:
        expected = fastconv.conv2d(x_np, w, bias, **args)
    except ValueError:
        with pytest.raises(ValueError):
            fcd.conv2d(x, w, bias, **args)
        return
    result = fcd.conv2d(x, w, bias, **args)
    assert result.shape == expected.shape
    assert_identical(compute(result, frame), expected)


@budget(100)
@given(image=images(max_c=3), pool=pairs, stride=st.one_of(st.none(), pairs),
       padding=st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 1)),
       op=st.sampled_from(["max_pool2d", "avg_pool2d"]), frame=st.booleans())
def test_pools_bit_identical(image, pool, stride, padding, op, frame):
    x, x_np = image
    try:
        expected = getattr(fastconv, op)(x_np, pool, stride=stride, padding=padding)
    except ValueError:
        with pytest.raises(ValueError):
            getattr(fcd, op)(x, pool, stride=stride, padding=padding)
        return
    assert_identical(compute(getattr(fcd, op)(x, pool, stride=stride, padding=padding),
                             frame), expected)


@budget(100)
@given(data=st.data(), mode=st.sampled_from(["full", "same", "valid"]),
       boundary=st.sampled_from(["fill", "wrap", "symm"]),
       fillvalue=st.sampled_from([0, 0.0, 1.5, -2]))
def test_correlate2d_bit_identical(data, mode, boundary, fillvalue):
    h, w = data.draw(st.integers(1, 16)), data.draw(st.integers(1, 16))
    # Kernels up to twice the image: wrap-around and mirrored halos cross it several times.
    k_h, k_w = data.draw(st.integers(1, 2 * h + 1)), data.draw(st.integers(1, 2 * w + 1))
    assume(mode != "valid" or (h >= k_h and w >= k_w))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    image = rng.standard_normal((h, w)).astype(dtype)
    kernel = rng.standard_normal((k_h, k_w)).astype(dtype)
    x = da.from_array(image, chunks=(data.draw(chunkings(h)), data.draw(chunkings(w))))
    expected = with_policy(fcd.CORRELATE_POLICY).correlate2d(image, kernel, mode, boundary,
                                                            fillvalue)
    assert_identical(compute(fcd.correlate2d(x, kernel, mode, boundary, fillvalue)),
                     expected)


def test_correlate2d_matches_the_public_drop_in_on_its_direct_engine():
    """Plain fastconv.correlate2d runs the direct engine here (not tiny, short kernel,
    zero fill): the dask result is its result, bit for bit."""
    rng = np.random.default_rng(3)
    image = rng.standard_normal((300, 257)).astype(np.float32)
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    for mode in ("full", "same", "valid"):
        x = da.from_array(image, chunks=(64, 100))
        assert_identical(compute(fcd.correlate2d(x, sobel, mode)),
                         fastconv.correlate2d(image, sobel, mode))


def test_correlate2d_valid_with_a_kernel_larger_than_the_image():
    rng = np.random.default_rng(4)
    small, large = rng.standard_normal((4, 5)), rng.standard_normal((9, 8))
    x = da.from_array(small, chunks=2)
    expected = with_policy(fcd.CORRELATE_POLICY).correlate2d(small, large, "valid")
    assert_identical(compute(fcd.correlate2d(x, large, "valid")), expected)


def test_im2col_agrees_to_rounding():
    """im2col's GEMM rounds with its tile (module docs): close, not bit-identical."""
    rng = np.random.default_rng(5)
    x_np = rng.standard_normal((2, 23, 19, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    x = da.from_array(x_np, chunks=(1, 5, 7, 8))
    expected = fastconv.conv2d(x_np.astype(np.float64), w.astype(np.float64), padding="same")
    result = compute(fcd.conv2d(x, w, padding="same", method="im2col"))
    assert_close(result, expected, np.float32, n_terms=3 * 3 * 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_typical_shapes_bit_identical(dtype):
    """The issue's workloads, scaled down: a one-channel image with a 5x5 "same" filter,
    and a batch through 7x7/2 "same" then a 3x3/2 max pool."""
    rng = np.random.default_rng(6)
    image = rng.standard_normal((1, 200, 180, 1)).astype(dtype)
    blur = rng.standard_normal((5, 5, 1, 1)).astype(dtype)
    x = da.from_array(image, chunks=(1, 64, 64, 1))
    assert_identical(compute(fcd.conv2d(x, blur, padding="same")),
                     fastconv.conv2d(image, blur, padding="same"))
    batch = rng.standard_normal((8, 36, 36, 3)).astype(dtype)
    w = rng.standard_normal((7, 7, 3, 16)).astype(dtype)
    xb = da.from_array(batch, chunks=(3, 36, 36, 3))
    lazy = fcd.max_pool2d(fcd.conv2d(xb, w, stride=2, padding="same"), 3, stride=2)
    assert_identical(compute(lazy),
                     fastconv.max_pool2d(fastconv.conv2d(batch, w, stride=2, padding="same"),
                                         3, stride=2))


def test_halo_larger_than_the_array_and_windows_in_the_padding():
    """A 3x4 image in 1-pixel chunks, padded by 6 with a 5x5 kernel dilated by 2 (9x9):
    some output chunks read no pixel at all."""
    rng = np.random.default_rng(7)
    image = rng.standard_normal((1, 3, 4, 2))
    w = rng.standard_normal((5, 5, 2, 3))
    bias = rng.standard_normal(3)
    x = da.from_array(image, chunks=1)
    for padding in (6, ((7, 1), (0, 8)), "same"):
        expected = fastconv.conv2d(image, w, bias, padding=padding, dilation=2)
        assert_identical(compute(fcd.conv2d(x, w, bias, padding=padding, dilation=2)),
                         expected)


def test_unbatched_image_and_channels_in_several_chunks():
    rng = np.random.default_rng(8)
    image = rng.standard_normal((17, 13, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    x = da.from_array(image, chunks=(5, 4, 2))  # channels in 3 chunks: rechunked
    result = fcd.conv2d(x, w, padding="same", groups=2)
    assert result.ndim == 3 and len(result.chunks[2]) == 1
    assert_identical(compute(result), fastconv.conv2d(image, w, padding="same", groups=2))
    assert_identical(compute(fcd.avg_pool2d(x, 3, stride=2, padding="same")),
                     fastconv.avg_pool2d(image, 3, stride=2, padding="same"))


@pytest.mark.parametrize("frame", [False, True])
def test_nan_and_inf_land_where_they_do_in_memory(frame):
    image = np.random.default_rng(9).standard_normal((1, 20, 20, 1))
    image[0, 5, 7, 0] = np.nan
    image[0, 0, 0, 0] = np.inf
    image[0, 8, 13, 0] = -np.inf  # on a chunk's edge
    w = np.ones((3, 3, 1, 1))
    w_inf = w.copy()
    w_inf[0, 0] = np.inf  # non-finite weights: the padding's zeros are made real
    x = da.from_array(image, chunks=(1, 8, 7, 1))
    for kernel in (w, w_inf):
        assert_identical(compute(fcd.conv2d(x, kernel, padding="same"), frame),
                         fastconv.conv2d(image, kernel, padding="same"))
    assert_identical(compute(fcd.max_pool2d(x, 3, stride=2, padding="same"), frame),
                     fastconv.max_pool2d(image, 3, stride=2, padding="same"))


def test_a_large_chunk_runs_as_a_frame_without_copying_it():
    """The op runs on the chunk itself; only the frame's edges read copies."""
    image = np.random.default_rng(3).standard_normal((2, 30, 40, 2)).astype(np.float32)
    w = np.random.default_rng(4).standard_normal((5, 3, 2, 3)).astype(np.float32)
    x = da.from_array(image, chunks=(1, 10, 20, 2))
    seen = []
    real = _dask_graph._frame

    def spy(grid, pads, reach):
        plan = real(grid, pads, reach)
        seen.append((plan, [piece for band in grid for piece in band]))
        return plan
    with mock.patch.object(_dask_graph, "_frame", spy):
        result = compute(fcd.conv2d(x, w, padding="same", stride=(1, 2)), frame=True)
    assert_identical(result, fastconv.conv2d(image, w, padding="same", stride=(1, 2)))
    assert len(seen) == 2 * 3 * 2 and all(plan is not None for plan, _ in seen)
    for (center, _, edges), pieces in seen:
        assert any(center is piece for piece in pieces)  # the piece itself, not a copy
        assert 1 <= len(edges) <= 4


def test_frame_geometry():
    """A 5x3 kernel, stride (1, 2), on a chunk 10 rows by 20 columns with 2 rows of
    halo above and below and 1 column after: outputs 2..7 of 10 read only the chunk's
    rows, outputs 0..8 of 10 only its columns; the frame is the rest."""
    def piece(h, w):
        return np.zeros((1, h, w, 2), np.float32)
    grid = [[piece(2, 20), piece(2, 1)], [piece(10, 20), piece(10, 1)],
            [piece(2, 20), piece(2, 1)]]
    with mock.patch.object(_dask_graph, "MIN_FRAME_BYTES", 0):
        center, pads, edges = _dask_graph._frame(grid, ((0, 0), (0, 0)), ((5, 1), (3, 2)))
        assert center is grid[1][0] and pads == ((2, 2), (0, 1))
        assert [(where[1:], rows, cols, edge_pads) for where, rows, cols, edge_pads in edges] == [
            ((slice(0, 2), slice(0, 10)), (0, 6), (0, 21), ((0, 0), (0, 0))),
            ((slice(8, 10), slice(0, 10)), (8, 14), (0, 21), ((0, 0), (0, 0))),
            ((slice(2, 8), slice(9, 10)), (2, 12), (18, 21), ((0, 0), (0, 0)))]
        # An interior under half the output: one copy of the span instead.
        assert _dask_graph._frame(grid, ((0, 0), (0, 0)), ((9, 1), (3, 2))) is None
    assert _dask_graph._frame(grid, ((0, 0), (0, 0)), ((5, 1), (3, 2))) is None  # small


# ---------------------------------------------------------------------------
# The graph: lazy, known chunks, stride-aligned, and each task reads only what it needs
# ---------------------------------------------------------------------------
def test_nothing_is_computed_until_asked():
    def explode():
        raise AssertionError("computed while building the graph")

    x = da.from_delayed(dask.delayed(explode)(), shape=(2, 64, 64, 3), dtype=np.float32)
    x = x.rechunk((1, 16, 16, 3))
    y = fcd.max_pool2d(fcd.conv2d(x, np.ones((3, 3, 3, 4), np.float32), stride=2), 2)
    assert not np.isnan(y.shape).any() and all(not np.isnan(c).any() for c in y.chunks)
    assert y.shape == (2, 15, 15, 4)


def test_output_chunks_follow_the_input_on_the_stride_grid():
    x = da.zeros((1, 100, 90, 1), chunks=(1, 32, (30, 30, 30), 1))
    assert fcd.conv2d(x, np.ones((3, 3, 1, 1)), padding="same").chunks == x.chunks
    strided = fcd.conv2d(x, np.ones((7, 7, 1, 1)), stride=2, padding="same")
    # output o is anchored at input 2 * o: chunks start at ceil(32 / 2), ceil(64 / 2) ...
    assert strided.chunks[1:3] == ((16, 16, 16, 2), (15, 15, 15))
    valid = fcd.conv2d(x, np.ones((5, 5, 1, 1)))
    assert valid.chunks[1:3] == ((32, 32, 32), (30, 30, 26))


def _chunks_read(graph, key, source_name):
    """The input chunks an output task reads: directly, or through the task that cuts
    the part it needs (its halo) from one chunk. (Its other dependencies are constants:
    the weights, the bias, the kernel.)"""
    chunks = set()
    for dep in dask.core.get_dependencies(graph, key):
        if "-operand-" in dep[0] or "-kernel-" in dep[0]:
            assert not dask.core.get_dependencies(graph, dep)
        elif dep[0] == source_name:
            chunks.add(dep)
        else:
            sources = dask.core.get_dependencies(graph, dep)
            assert len(sources) == 1, (dep, sources)  # a part is cut from one chunk
            chunks |= set(sources)
    return chunks


def _read_chunks(chunks, first, last):
    """Chunk indices holding positions first .. last (clipped to the axis)."""
    edges = np.cumsum((0,) + tuple(chunks))
    lo, hi = max(first, 0), min(last, edges[-1] - 1)
    return {i for i in range(len(chunks)) if edges[i] <= hi and edges[i + 1] > lo}


@pytest.mark.parametrize("kernel, stride, dilation, padding", [
    (3, 1, 1, "same"), (7, 2, 1, "same"), (2, 3, 1, "valid"), (3, 2, 3, ((4, 0), (1, 5))),
    (1, 1, 1, "valid"),
])
def test_each_output_chunk_reads_exactly_the_input_chunks_it_needs(kernel, stride,
                                                                  dilation, padding):
    """Brute force: the input positions each output pixel's window covers, by definition
    (o * stride - pad + j * dilation), decide which input chunks a task must read; the
    graph's dependencies must be exactly those, so no chunk is read by an output chunk
    that does not need it (nor the whole array by anyone)."""
    in_chunks = (5, 7, 1, 9, 6)
    x = da.zeros((1, sum(in_chunks), sum(in_chunks), 1), chunks=(1, in_chunks, in_chunks, 1))
    w = np.ones((kernel, kernel, 1, 1))
    y = fcd.conv2d(x, w, stride=stride, dilation=dilation, padding=padding)
    window = _geometry.conv_window(x.shape[1:3], (kernel, kernel), stride, dilation, padding)
    graph = dict(y.__dask_graph__())
    out_edges = [np.cumsum((0,) + c) for c in y.chunks[1:3]]
    reads = 0
    for key in dask.core.flatten(y.__dask_keys__()):
        _, _, hi, wi, _ = key
        needed = []
        for axis, index in ((0, hi), (1, wi)):
            o0, o1 = out_edges[axis][index], out_edges[axis][index + 1]
            pad = window.pads[axis][0]
            taps = [o * stride - pad + j * dilation for o in range(o0, o1)
                    for j in range(kernel)]
            needed.append(_read_chunks(in_chunks, min(taps), max(taps))
                          if max(taps) >= 0 and min(taps) < sum(in_chunks) else set())
        expected = {(x.name, 0, r, c, 0) for r in needed[0] for c in needed[1]}
        got = _chunks_read(graph, key, x.name)
        assert got == expected, (key, sorted(got), sorted(expected))
        reads += len(got)
    if kernel == 1:  # no halo: every input chunk is read exactly once
        assert reads == len(in_chunks) ** 2


def test_correlate2d_wrap_reads_the_far_side_only():
    """A wrap-around border: the top-left output chunk reads the opposite corners'
    chunks (whose pixels wrap into its halo) and not the middle ones."""
    x = da.zeros((40, 40), chunks=10)
    y = fcd.correlate2d(x, np.ones((3, 3)), "same", "wrap")
    graph = dict(y.__dask_graph__())
    deps = _chunks_read(graph, (y.name, 0, 0), x.name)
    assert {key[1:] for key in deps} == {(r, c) for r in (3, 0, 1) for c in (3, 0, 1)}


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
def test_threads_per_task():
    assert _dask_graph._task_threads(None, 1) == fastconv.get_num_threads()
    assert _dask_graph._task_threads(None, 10**6) == 1
    assert _dask_graph._task_threads(3, 10**6) == 3
    assert _dask_graph._threads_here(2, None) == 2  # not in a distributed worker


def test_threaded_scheduler_gives_the_same_bits():
    rng = np.random.default_rng(10)
    image = rng.standard_normal((2, 40, 50, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
    x = da.from_array(image, chunks=(1, 16, 16, 3))
    expected = fastconv.conv2d(image, w, padding="same", stride=2)
    for workers in (None, 1, 2):
        y = fcd.conv2d(x, w, padding="same", stride=2, workers=workers)
        assert_identical(y.compute(scheduler="threads"), expected)


# ---------------------------------------------------------------------------
# Real distributed clusters
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session", params=["in-process", "worker-processes"])
def cluster_client(request):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=request.param == "worker-processes",
        memory_limit="1GiB", dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_on_a_local_cluster(cluster_client):
    rng = np.random.default_rng(11)
    image = rng.standard_normal((3, 45, 38, 2)).astype(np.float32)
    w = rng.standard_normal((5, 4, 2, 6)).astype(np.float32)
    x = da.from_array(image, chunks=(2, 11, 9, 2))
    y = fcd.max_pool2d(fcd.conv2d(x, w, np.ones(6, np.float32), stride=(2, 1),
                                  padding="same", dilation=(1, 2)), 3, stride=2,
                       padding="same")
    expected = fastconv.max_pool2d(
        fastconv.conv2d(image, w, np.ones(6, np.float32), stride=(2, 1), padding="same",
                        dilation=(1, 2)), 3, stride=2, padding="same")
    assert_identical(cluster_client.compute(y).result(), expected)
    photo = rng.standard_normal((70, 60))
    kernel = rng.standard_normal((4, 5))
    z = fcd.correlate2d(da.from_array(photo, chunks=16), kernel, "same", "symm")
    assert_identical(cluster_client.compute(z).result(),
                     with_policy(fcd.CORRELATE_POLICY).correlate2d(photo, kernel, "same",
                                                                   "symm"))


def test_large_chunks_run_as_frames_on_a_local_cluster(cluster_client):
    """Chunks above MIN_FRAME_BYTES: the workers run the frame path at its default
    threshold (no patching reaches a worker process), and the bits still match."""
    rng = np.random.default_rng(12)
    image = rng.standard_normal((1, 1100, 1000, 1)).astype(np.float32)
    image[0, 599, 519, 0] = np.nan  # at a chunk's corner: it reaches four tasks' frames
    w = rng.standard_normal((5, 5, 1, 2)).astype(np.float32)
    chunks = (1, 600, 520, 1)
    assert 600 * 520 * 4 >= _dask_graph.MIN_FRAME_BYTES
    x = da.from_array(image, chunks=chunks)
    y = fcd.avg_pool2d(fcd.conv2d(x, w, padding="same"), 3, stride=2, padding="same")
    expected = fastconv.avg_pool2d(fastconv.conv2d(image, w, padding="same"), 3, stride=2,
                                   padding="same")
    assert_identical(cluster_client.compute(y).result(), expected)


def test_tasks_in_a_distributed_worker_run_one_thread(cluster_client):
    assert cluster_client.submit(_dask_graph._threads_here, 2, None, pure=False).result() == 1
    assert cluster_client.submit(_dask_graph._threads_here, 2, 3, pure=False).result() == 2


# ---------------------------------------------------------------------------
# Errors, and Dask as an optional dependency
# ---------------------------------------------------------------------------
def test_errors():
    x = da.zeros((1, 8, 8, 2), chunks=4)
    w = np.ones((3, 3, 2, 1))
    with pytest.raises(TypeError, match="dask.array.Array"):
        fcd.conv2d(np.zeros((1, 8, 8, 2)), w)
    with pytest.raises(ValueError, match="3 .H, W, C. or 4"):
        fcd.conv2d(da.zeros((8, 8), chunks=4), w)
    with pytest.raises(ValueError, match="larger than the padded input"):
        fcd.conv2d(x, np.ones((9, 3, 2, 1)))
    with pytest.raises(ValueError, match="groups"):
        fcd.conv2d(x, np.ones((3, 3, 2, 3)), groups=2)
    with pytest.raises(ValueError, match="method"):
        fcd.conv2d(x, w, method="fft")
    with pytest.raises(ValueError, match="workers"):
        fcd.conv2d(x, w, workers=0)
    with pytest.raises(ValueError, match="smaller than pool_size"):
        fcd.max_pool2d(x, 2, padding=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        fcd.avg_pool2d(x.astype(np.complex64))
    unknown = x[x[:, :, :, 0].sum(axis=(1, 2)) > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fcd.conv2d(unknown, w)
    image = da.zeros((8, 8), chunks=4)
    with pytest.raises(ValueError, match="2-D"):
        fcd.correlate2d(x, np.ones((3, 3)))
    with pytest.raises(ValueError, match="Acceptable mode flags"):
        fcd.correlate2d(image, np.ones((3, 3)), mode="middle")
    with pytest.raises(ValueError, match="Acceptable boundary flags"):
        fcd.correlate2d(image, np.ones((3, 3)), boundary="mirror")
    with pytest.raises(TypeError, match="float32 or float64"):
        fcd.correlate2d(image.astype(np.int64), np.ones((3, 3), dtype=np.int64))


def _run(code):
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    return subprocess.run([sys.executable, "-c", code], cwd=package_parent,
                          capture_output=True, text=True, timeout=120)


def test_import_fastconv_does_not_import_dask():
    proc = _run("import sys, fastconv; print(any(m == 'dask' or m.startswith('dask.') "
                "for m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_without_dask_the_import_error_names_the_extra():
    proc = _run("import sys; sys.modules['dask'] = None\n"
                "try:\n    import fastconv.dask\nexcept ImportError as e:\n    print(e)\n")
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'fastconv[dask]'" in proc.stdout


def test_readme_example_runs():
    """The README's "Larger than memory" example, as printed there."""
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "README.md")
    if not os.path.exists(readme):
        pytest.skip("no README beside the tests")
    text = open(readme, encoding="utf-8").read()
    section = text.split("## Larger than memory", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
