"""The dask section (``python -m fastconv.bench --dask``): fastconv.dask on a LocalCluster.

Two workloads, from issue 12:

* image: one S x S float32 one-channel image (S = 16384 by default: 1 GiB) in chunks of
  2048^2, a 5x5 "same" filter; ``fastconv.dask.conv2d`` against dask-image's
  ``ndfilters.correlate`` (scipy.ndimage per chunk through ``map_overlap``, zero
  border: the same values) on the same LocalCluster: 2 worker processes of 1 thread.
  The image is generated on the workers and kept there (``persist``), as data loaded
  from storage would be; each timed run filters it and streams the result into a sink
  that drops it (as ``da.store`` to storage would), so neither side pays for moving 1 GiB
  to this process. Times are medians of interleaved rounds. Then the peak memory of one
  run per worker, on freshly restarted workers, from generation to sink, against each
  worker's resident memory once warmed up (the "Dask baseline"), in chunks' worth.
* batch: (B, 224, 224, 3) float32 (B = 256) in chunks of 32 images, a 7x7 stride-2
  "same" conv to 64 channels then a 3x3 stride-2 max pool, against the in-memory calls
  on the whole batch with every core: once on Dask's threaded scheduler (in process,
  nothing copied) and once on the LocalCluster (input persisted on the workers, result
  gathered back here, which the cluster pays for in transfers).

Nothing here is a test: it prints what it measured.
"""
import gc
import os
import time
import warnings

import numpy as np

SINK_NOTE = "results streamed into a sink that drops them (as da.store would write them)"


class _Sink:
    """A ``da.store`` target that drops what it is given."""

    def __setitem__(self, key, value):
        pass


def _dask_modules():
    """(dask.array, distributed, dask_image.ndfilters or None), or None without Dask."""
    try:
        import dask.array as da
        import distributed
    except ImportError:
        return None
    try:
        from dask_image import ndfilters
    except ImportError:
        ndfilters = None
    return da, distributed, ndfilters


def _rss_now():
    import psutil
    return psutil.Process().memory_info().rss


_sampler = {}


def _start_rss_sampler(interval=0.002):
    """Sample this process's resident memory every ``interval`` s in a thread, keeping
    the largest. (getrusage's ru_maxrss will not do: Linux keeps it across the fork and
    exec that start a worker, so a fresh worker reports its nanny's peak.)"""
    import threading

    import psutil
    proc = psutil.Process()
    stop = threading.Event()
    state = {"peak": proc.memory_info().rss, "stop": stop}

    def sample():
        while not stop.is_set():
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            stop.wait(interval)
    state["thread"] = threading.Thread(target=sample, daemon=True)
    state["thread"].start()
    _sampler["state"] = state


def _stop_rss_sampler():
    """The peak resident memory since ``_start_rss_sampler``, in bytes."""
    state = _sampler.pop("state")
    state["stop"].set()
    state["thread"].join()
    return max(state["peak"], _rss_now())


def _median_interleaved(runs, rounds, settle=0.02):
    """{name: median seconds}: every run once per round, starting one place later each
    round; each preceded by a pause (idle threads stop spinning)."""
    names = list(runs)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle)
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def _image_pipeline(da, ndfilters, x, kernel, impl):
    import fastconv.dask as fcd
    if impl == "fastconv":
        return fcd.conv2d(x[..., np.newaxis], kernel[..., np.newaxis, np.newaxis],
                          padding="same")[..., 0]
    if impl == "dask-image":
        return ndfilters.correlate(x, kernel, mode="constant", cval=0.0)
    return x.map_blocks(np.copy)  # "dask copy": the memory any chunked pipeline takes


def _cluster(distributed, processes):
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                    dashboard_address=None, silence_logs=40, memory_limit=0)


def run_image(size, chunk, rounds, progress):
    """The image workload; returns a dict of what it measured."""
    da, distributed, ndfilters = _dask_modules()
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((5, 5)).astype(np.float32)
    chunk_bytes = chunk * chunk * 4
    out = {"size": size, "chunk": chunk, "workers": 2, "threads_per_worker": 1,
           "image_bytes": size * size * 4, "chunk_bytes": chunk_bytes, "seconds": {}}
    impls = ["fastconv"] + (["dask-image"] if ndfilters is not None else [])

    def generate():
        return da.random.default_rng(1).random((size, size), chunks=chunk, dtype=np.float32)

    for kind, processes in (("in-process workers", False), ("worker processes", True)):
        with _cluster(distributed, processes) as cluster, distributed.Client(cluster) as client:
            if "max_abs_difference" not in out and "dask-image" in impls:
                # Check first, on a corner: both give the same values (to rounding).
                corner = generate()[:2 * chunk, :2 * chunk].rechunk(chunk)
                got = {impl: client.compute(_image_pipeline(da, ndfilters, corner, kernel,
                                                            impl)).result() for impl in impls}
                scale = float(np.abs(got["dask-image"]).max())
                out["max_abs_difference"] = float(
                    np.abs(got["fastconv"] - got["dask-image"]).max()) / scale
            progress(f"dask image, {kind}: generating the image on the workers")
            x = generate().persist()
            distributed.wait(x)

            def run(impl, x=x):
                def go():
                    da.store(_image_pipeline(da, ndfilters, x, kernel, impl), _Sink(),
                             lock=False)
                return go
            runs = {impl: run(impl) for impl in impls}
            for go in runs.values():  # untimed first runs: imports, caches
                go()
            progress(f"dask image, {kind}: {rounds} interleaved rounds")
            out["seconds"][kind] = _median_interleaved(runs, rounds)
            del x, runs
            if not processes:
                continue
            # Memory, per worker process: fresh workers, one run from generation to sink.
            out["memory"] = {}
            for impl in ["dask copy"] + impls:
                progress(f"dask image: peak memory of one {impl} run")
                client.restart()
                warm = generate()[:chunk, :chunk]
                da.store(_image_pipeline(da, ndfilters, warm, kernel, impl), _Sink(),
                         lock=False)
                client.run(gc.collect)
                baseline = client.run(_rss_now)
                client.run(_start_rss_sampler)
                da.store(_image_pipeline(da, ndfilters, generate(), kernel, impl), _Sink(),
                         lock=False)
                peaks = client.run(_stop_rss_sampler)
                out["memory"][impl] = {
                    worker: {"idle": baseline[worker], "peak": peaks[worker]}
                    for worker in sorted(baseline)}
    return out


def run_batch(batch, chunk, rounds, threads, progress):
    """The batch workload; returns a dict of what it measured."""
    import fastconv
    import fastconv.dask as fcd
    da, distributed, _ = _dask_modules()
    rng = np.random.default_rng(2)
    images = rng.standard_normal((batch, 224, 224, 3)).astype(np.float32)
    w = (rng.standard_normal((7, 7, 3, 64)) / 12).astype(np.float32)

    def in_memory():
        return fastconv.max_pool2d(fastconv.conv2d(images, w, stride=2, padding="same",
                                                   workers=threads), 3, stride=2,
                                   padding="same", workers=threads)

    def lazy(x):
        return fcd.max_pool2d(fcd.conv2d(x, w, stride=2, padding="same"), 3, stride=2,
                              padding="same")

    x_local = da.from_array(images, chunks=(chunk, 224, 224, 3))
    expected = in_memory()
    out = {"batch": batch, "chunk": chunk, "threads": threads}
    out["identical_threads"] = bool(np.array_equal(lazy(x_local).compute(
        scheduler="threads", num_workers=threads), expected))
    progress(f"dask batch: {rounds} interleaved rounds, threaded scheduler")
    out["seconds_threads"] = _median_interleaved({
        "in-memory": in_memory,
        "dask threads": lambda: lazy(x_local).compute(scheduler="threads",
                                                     num_workers=threads)}, rounds)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40,
                                  memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        with warnings.catch_warnings():  # "Sending large graph": the batch, once
            warnings.simplefilter("ignore", UserWarning)
            x_remote = client.persist(x_local)
        distributed.wait(x_remote)
        got = client.compute(lazy(x_remote)).result()
        out["identical_cluster"] = bool(np.array_equal(got, expected))
        progress(f"dask batch: {rounds} interleaved rounds, LocalCluster")
        out["seconds_cluster"] = _median_interleaved({
            "in-memory": in_memory,
            "dask cluster": lambda: client.compute(lazy(x_remote)).result()}, rounds)
    return out


def format_results(image, batch):
    """The section's tables, with each target of issue 12 marked met or missed."""
    lines = ["== dask: fastconv.dask on a distributed.LocalCluster (2 worker processes x 1 "
             "thread) ==", SINK_NOTE]
    if image is not None:
        lines.append(f"image {image['size']}x{image['size']} float32 1 channel "
                     f"({image['image_bytes'] / 2**30:.2f} GiB), chunks {image['chunk']}^2, "
                     f"5x5 'same'; LocalCluster of 2 workers x 1 thread")
        for kind, s in image["seconds"].items():
            times = ", ".join(f"{impl} {sec:.3f} s" for impl, sec in s.items())
            if "dask-image" in s:
                ratio = s["dask-image"] / s["fastconv"]
                lines.append(f"  {kind:<19} {times}: {ratio:.2f}x dask-image's speed "
                             f"(target >= 5x: {'met' if ratio >= 5 else 'MISSED'})")
            else:
                lines.append(f"  {kind:<19} {times} (dask-image not installed: "
                             f"pip install 'fastconv[bench]')")
        if "max_abs_difference" in image:
            lines.append(f"  fastconv and dask-image agree to "
                         f"{image['max_abs_difference']:.1e} of the largest value")
        memory = image.get("memory", {})
        chunk_bytes = image["chunk_bytes"]

        def growth(impl):  # the largest peak - idle over the (restarted) worker processes
            return max(m["peak"] - m["idle"] for m in memory[impl].values())
        for impl, per_worker in memory.items():
            parts = ", ".join(f"idle {m['idle'] / 2**20:.0f} -> peak {m['peak'] / 2**20:.0f} MiB"
                              for m in per_worker.values())
            line = (f"  peak RSS per worker process, {impl}: {parts}; largest growth "
                    f"{growth(impl) / chunk_bytes:.1f} chunks")
            if impl != "dask copy" and "dask copy" in memory:
                beyond = (growth(impl) - growth("dask copy")) / chunk_bytes
                line += f", {beyond:+.1f} beyond the dask copy's"
                if impl == "fastconv":
                    line += f" (target <= 4: {'met' if beyond <= 4 else 'MISSED'})"
            lines.append(line)
    if batch is not None:
        lines.append(f"batch ({batch['batch']}, 224, 224, 3) float32 in chunks of "
                     f"{batch['chunk']}: 7x7/2 'same' conv to 64 channels, 3x3/2 max pool; "
                     f"in-memory on {batch['threads']} threads")
        for label, key, other in (("threaded scheduler", "seconds_threads", "dask threads"),
                                  ("LocalCluster, result gathered", "seconds_cluster",
                                   "dask cluster")):
            s = batch[key]
            ratio = s[other] / s["in-memory"]
            ident = batch["identical_threads" if key == "seconds_threads"
                          else "identical_cluster"]
            lines.append(f"  {label:<30} dask {s[other]:7.3f} s, in-memory "
                         f"{s['in-memory']:7.3f} s: {ratio:.2f}x the in-memory time "
                         f"(target <= 1.2x: {'met' if ratio <= 1.2 else 'MISSED'}); "
                         f"bit-identical: {ident}")
    return "\n".join(lines)


def main(args, threads, progress):
    """Run the section as ``args`` says; prints, and returns the results (or None)."""
    if _dask_modules() is None:
        print("dask section skipped: Dask is not installed (pip install 'fastconv[bench]')")
        return None
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    rounds = args.rounds or (3 if args.quick else 5)
    size = args.dask_size or (2048 if args.quick else 16384)
    chunk = min(2048, size) if args.dask_chunk is None else args.dask_chunk
    batch = args.dask_batch or (64 if args.quick else 256)
    image = run_image(size, chunk, rounds, progress)
    batch_result = run_batch(batch, 32, rounds, threads, progress)
    print(format_results(image, batch_result), flush=True)
    return {"image": image, "batch": batch_result}
