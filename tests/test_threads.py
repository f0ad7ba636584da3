"""Thread safety (issue 5): many Python threads calling fastconv at once all get the
reference answer, the GIL is released while a kernel computes, per-call ``workers``
do not interfere, and the BLAS thread setting survives concurrent calls."""
import sys
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastconv
from _oracle import assert_matches, conv_expected, pool_expected

N_THREADS = 8
ROUNDS = 6  # calls per thread per case


def _data(shape, seed, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _cases(dtype):
    """(name, fn(inputs) -> result, inputs, expected, bound): conv2d by each method, pooling."""
    cases = []
    convs = [
        ("direct 3x3 same", "direct", (2, 20, 17, 8), (3, 3, 8, 16), {"padding": "same"}),
        ("im2col 3x3 stride 2", "im2col", (2, 21, 18, 8), (3, 3, 8, 16), {"stride": 2}),
        ("auto grouped dilated", "auto", (2, 19, 20, 8), (3, 2, 4, 12),
         {"groups": 2, "dilation": 2, "padding": 1}),
        ("direct depthwise", "direct", (2, 18, 18, 12), (3, 3, 1, 12), {"groups": 12}),
    ]
    for i, (name, method, xs, ws, kw) in enumerate(convs):
        x, w, b = _data(xs, i, dtype), _data(ws, 100 + i, dtype), _data(ws[3], 200 + i, dtype)
        expected, bound = conv_expected(x, w, b, **kw)
        fn = (lambda x, w, b, method=method, kw=kw:
              fastconv.conv2d(x, w, b, method=method, **kw))
        cases.append((name, fn, (x, w, b), expected, bound))
    for j, (op, ps, kw) in enumerate([("max_pool2d", 3, {"stride": 2, "padding": "same"}),
                                      ("avg_pool2d", (2, 3), {"stride": 1})]):
        x = _data((3, 23, 19, 16), 300 + j, dtype)
        expected, bound = pool_expected(op, x, ps, **kw)
        fn = (lambda x, op=op, ps=ps, kw=kw: getattr(fastconv, op)(x, ps, **kw))
        cases.append((op, fn, (x,), expected, bound))
    return cases


def _run_threads(target, n):
    """Start n threads on target(i) behind a barrier; re-raise the first failure."""
    barrier = threading.Barrier(n)
    errors = []

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sharing", ["shared inputs", "own inputs"])
def test_eight_threads_get_the_reference_answer(dtype, sharing):
    cases = _cases(dtype)
    if sharing == "own inputs":  # each thread its own copies
        per_thread = [[tuple(a.copy() for a in c[2]) for c in cases] for _ in range(N_THREADS)]
    else:  # every thread reads the very same (read-only) arrays
        for c in cases:
            for a in c[2]:
                a.flags.writeable = False
        per_thread = [[c[2] for c in cases] for _ in range(N_THREADS)]
    snapshots = [[tuple(a.copy() for a in inputs) for inputs in row] for row in per_thread]
    results = [[[] for _ in cases] for _ in range(N_THREADS)]

    def work(i):
        for r in range(ROUNDS):
            # Threads walk the cases in different orders, so different kernels overlap.
            for k in np.random.default_rng(i * 1000 + r).permutation(len(cases)):
                results[i][k].append(cases[k][1](*per_thread[i][k]))

    _run_threads(work, N_THREADS)
    for i in range(N_THREADS):
        for k, (name, _, _, expected, bound) in enumerate(cases):
            assert len(results[i][k]) == ROUNDS
            for result in results[i][k]:
                assert_matches(result, expected, bound, dtype)
            for a, before in zip(per_thread[i][k], snapshots[i][k]):
                np.testing.assert_array_equal(a, before, err_msg=f"{name}: input modified")


def test_threads_writing_into_their_own_out_buffers():
    """out= from many threads at once: each thread's buffer gets its own answer."""
    dtype = np.float32
    x = _data((2, 16, 16, 8), 1, dtype)
    ws = [_data((3, 3, 8, 8), 10 + i, dtype) for i in range(N_THREADS)]
    expected = [conv_expected(x, w, padding="same") for w in ws]
    outs = [np.empty((2, 16, 16, 8), dtype) for _ in range(N_THREADS)]

    def work(i):
        method = ("direct", "im2col")[i % 2]
        for _ in range(ROUNDS):
            outs[i].fill(np.nan)
            assert fastconv.conv2d(x, ws[i], padding="same", method=method, out=outs[i]) is outs[i]
            assert_matches(outs[i], *expected[i], dtype)

    _run_threads(work, N_THREADS)


def _calibrated(make_call, target_seconds=0.5, max_batch=256):
    """Scale the batch of ``make_call(n)`` so one call takes about target_seconds (the debug
    build is many times slower than the release build). One untimed call first: a first
    call pays one-time costs (BLAS and threadpoolctl initialisation) that would make the
    calibrated batch far too small."""
    make_call(1)()
    n = 1
    while True:
        fn = make_call(n)
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if dt >= target_seconds / 4 or n >= max_batch:
            break
        n = min(max_batch, max(2 * n, int(n * target_seconds / 4 / max(dt, 1e-4))))
    return make_call(min(max_batch, max(n, int(n * target_seconds / max(dt, 1e-6)))))


LONG_CALLS = {
    # 64 channels: with 32, a quick run reached the batch cap in 0.19 s (CI, 18ad3d0).
    "conv2d_grad_input": lambda n: (lambda dy=np.ones((n, 62, 62, 64), np.float32),
                                    w=np.ones((3, 3, 64, 64), np.float32):
                                    fastconv.conv2d_grad_input(dy, w, (n, 64, 64, 64),
                                                               workers=1)),
    # 128 channels: with 64, 256 images (the batch cap) took 0.16 s on a Zen 5 machine.
    "conv2d_grad_input stride 2": lambda n: (
        lambda dy=np.ones((n, 31, 31, 128), np.float32),
        w=np.ones((3, 3, 128, 128), np.float32):
        fastconv.conv2d_grad_input(dy, w, (n, 64, 64, 128), stride=2, workers=1)),
    # 5x5 and 64 channels: with 3x3 and 32, 256 images (the batch cap) took 0.17 s.
    "conv2d_grad_weight": lambda n: (lambda x=np.ones((n, 64, 64, 64), np.float32),
                                     dy=np.ones((n, 60, 60, 64), np.float32):
                                     fastconv.conv2d_grad_weight(x, dy, (5, 5, 64, 64),
                                                                 workers=1)),
    "max_pool2d_grad": lambda n: (lambda x=np.ones((n, 64, 64, 32), np.float32),
                                  dy=np.ones((n, 50, 50, 32), np.float32):
                                  fastconv.max_pool2d_grad(x, dy, 15, stride=1, workers=1)),
    "avg_pool2d_grad": lambda n: (lambda dy=np.ones((n, 50, 50, 32), np.float32):
                                  fastconv.avg_pool2d_grad(dy, (n, 64, 64, 32), 15, stride=1,
                                                           workers=1)),
    # 64 channels: with 32, the direct kernel ran 256 images (the batch cap) in 0.19 s.
    "conv2d direct": lambda n: (lambda x=np.ones((n, 64, 64, 64), np.float32),
                                w=np.ones((3, 3, 64, 64), np.float32):
                                fastconv.conv2d(x, w, method="direct", workers=1)),
    # 64 channels: with 32, 256 images (the batch cap) took 0.25 s on a Zen 5 machine.
    "conv2d im2col": lambda n: (lambda x=np.ones((n, 64, 64, 64), np.float32),
                                w=np.ones((3, 3, 64, 64), np.float32):
                                fastconv.conv2d(x, w, method="im2col", workers=1)),
    # 64 channels: with 32, avg_pool2d's 256 images (the batch cap) took 0.09 s once.
    "max_pool2d": lambda n: (lambda x=np.ones((n, 64, 64, 64), np.float32):
                             fastconv.max_pool2d(x, 31, stride=1, workers=1)),
    "avg_pool2d": lambda n: (lambda x=np.ones((n, 64, 64, 64), np.float32):
                             fastconv.avg_pool2d(x, 31, stride=1, workers=1)),
}


@pytest.mark.parametrize("name", list(LONG_CALLS))
def test_the_gil_is_released_during_native_work(name):
    """A second Python thread keeps counting while a long call runs on the main thread.

    Were the GIL held by the kernel, the counter could only advance in the one or two
    switch intervals (5 ms) spent in the Python wrapper: measured with a GIL-holding
    call of the same length, about 0.015 s worth of free counting. With the GIL
    released it counts for most of the call (0.3-1 s), even on a loaded machine; the
    test asks for 10 switch intervals' worth (0.05 s).
    """
    fn = _calibrated(LONG_CALLS[name])
    counter = [0]
    stop = threading.Event()
    started = threading.Event()

    def count():
        started.set()
        n = 0
        while not stop.is_set():
            for _ in range(1000):
                n += 1
            counter[0] = n

    t = threading.Thread(target=count, daemon=True)
    t.start()
    started.wait()
    try:
        # The counter's free rate, with the main thread idle in sleep (GIL released).
        c0 = counter[0]
        time.sleep(0.2)
        rate = (counter[0] - c0) / 0.2
        c1 = counter[0]
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        during = counter[0] - c1
    finally:
        stop.set()
        t.join()
    free_run = rate * elapsed
    needed = rate * 10 * sys.getswitchinterval()
    print(f"\n{name}: a {elapsed:.2f} s call; the other thread counted {during} "
          f"({during / max(free_run, 1):.0%} of its free-running rate; "
          f"{during / max(needed, 1):.0f}x the required)")
    assert elapsed > 40 * sys.getswitchinterval(), f"call too short to judge: {elapsed:.3f} s"
    assert during > needed, (
        f"{name}: the counter advanced {during} during a {elapsed:.2f} s call; free-running "
        f"it would advance ~{free_run:.0f}: the GIL is not released"
    )


def test_per_call_workers_do_not_interfere(restore_threads):
    """Two threads, workers=1 and workers=2, at once: both correct, the global setting kept."""
    fastconv.set_num_threads(2)
    dtype = np.float64
    x = _data((4, 32, 32, 16), 7, dtype)
    w = _data((3, 3, 16, 16), 8, dtype)
    expected, bound = conv_expected(x, w, padding="same")
    px, pexp = x, pool_expected("avg_pool2d", x, 3, stride=1)

    def work(i):
        workers = i + 1
        for r in range(4):
            for method in ("direct", "im2col"):
                got = fastconv.conv2d(x, w, padding="same", method=method, workers=workers)
                assert_matches(got, expected, bound, dtype)
            got = fastconv.avg_pool2d(px, 3, stride=1, workers=workers)
            assert_matches(got, *pexp, dtype)

    _run_threads(work, 2)
    assert fastconv.get_num_threads() == 2


def _blas_threads():
    return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info()
                  if i["user_api"] == "blas")


def test_blas_thread_setting_is_unchanged_after_concurrent_calls():
    """im2col limits BLAS to one thread while it runs (no BLAS threads inside OpenMP
    threads); concurrent calls must restore the user's setting, not leave it at 1."""
    before = _blas_threads()
    assert before, "no BLAS found by threadpoolctl"
    dtype = np.float32
    x = _data((2, 24, 24, 16), 3, dtype)
    w = _data((3, 3, 16, 32), 4, dtype)
    expected, bound = conv_expected(x, w)

    def work(i):
        for _ in range(10):
            assert_matches(fastconv.conv2d(x, w, method="im2col"), expected, bound, dtype)
            # Plain NumPy BLAS use from the same threads, interleaved.
            a = np.ones((64, 64), dtype)
            assert (a @ a)[0, 0] == 64

    _run_threads(work, N_THREADS)
    assert _blas_threads() == before


def test_blas_is_limited_only_around_calls_that_run_blas(monkeypatch):
    """The process-wide BLAS limit (fastconv._blas_threads) reaches every thread of the
    user's program, so only calls whose kernel runs BLAS take it: the input gradient's
    GEMM + col2im, not the weight gradient's own micro-kernels or the depthwise input
    gradient's direct loop."""
    import contextlib

    from fastconv import _blas_threads

    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append(True)
        yield

    monkeypatch.setattr(_blas_threads, "single_threaded_blas", recording)
    rng = np.random.default_rng(3)
    for x_shape, w_shape, kwargs in [((2, 12, 12, 16), (3, 3, 16, 24), {"padding": "same"}),
                                     ((2, 9, 9, 1), (3, 3, 1, 8), {}),
                                     ((2, 10, 10, 8), (3, 3, 1, 8), {"groups": 8}),
                                     ((2, 8, 8, 32), (1, 1, 32, 64), {})]:
        x = rng.standard_normal(x_shape).astype(np.float32)
        y = fastconv.conv2d(x, rng.standard_normal(w_shape).astype(np.float32), **kwargs)
        fastconv.conv2d_grad_weight(x, np.ones_like(y), w_shape, **kwargs)
    assert not entered, "conv2d_grad_weight limited BLAS, which it does not run"
    dy = np.ones((2, 10, 10, 8), np.float32)
    fastconv.conv2d_grad_input(dy, np.ones((3, 3, 1, 8), np.float32), (2, 10, 10, 8),
                               padding="same", groups=8)
    assert not entered, "the depthwise input gradient (a direct loop) limited BLAS"
    fastconv.conv2d_grad_input(np.ones((2, 4, 4, 8), np.float32),
                               np.ones((3, 3, 16, 8), np.float32), (2, 9, 9, 16), stride=2)
    assert entered, "the GEMM + col2im input gradient ran without the BLAS limit"
