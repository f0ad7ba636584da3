"""python -m fastconv.bench: runs, prints, writes files only when asked, and its package
has no import cycle and no import-time dependence on fastconv's private names.

Kept short (a few seconds): one tiny workload, one round, the slow peers skipped.
"""
import ast
import contextlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.signal

import fastconv
import fastconv.bench
from fastconv.bench import _internals, calibrate
from fastconv.bench.__main__ import main as bench_main

BENCH_DIR = pathlib.Path(fastconv.bench.__file__).parent
MODULES = sorted(p.stem for p in BENCH_DIR.glob("*.py") if p.stem != "__init__")
# One quick conv workload and one quick drop-in, fastconv alone (the peers' own speed
# is not what these tests are about).
TINY = ["--quick", "--rounds", "1", "--no-progress", "--skip", "naive,scipy,numpy,torch,opencv"]


def _run_cli(cwd, *args):
    return subprocess.run([sys.executable, "-m", "fastconv.bench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_a_table_and_writes_nothing(tmp_path):
    done = _run_cli(tmp_path, *TINY, "--only", "img512-3x3-same", "--no-signal")
    assert done.returncode == 0, done.stderr
    assert "img512-3x3-same: conv2d (1,512,512,1) * 3x3x1x1 same" in done.stdout
    assert "fastconv auto" in done.stdout and "time ms" in done.stdout
    assert "Speed-up of fastconv auto" in done.stdout
    assert "drop-ins" not in done.stdout  # --no-signal
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def default_threads():
    """main() in-process sets fastconv's thread count: put the default back after."""
    yield
    fastconv.set_num_threads(None)


def test_json_has_both_sections(tmp_path, monkeypatch, default_threads):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sub" / "results.json"
    out.parent.mkdir()
    status = fastconv.bench.main(
        TINY + ["--only", "img512-3x3-same,convolve 1e3", "--json", str(out)])
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # nothing beside it
    payload = json.loads(out.read_text())
    assert {"environment", "settings", "dtype", "argv", "timestamp", "results",
            "signal"} <= set(payload)
    assert payload["environment"]["blas"] is not None
    (conv,) = payload["results"]
    assert conv["name"] == "img512-3x3-same"
    assert conv["auto_runs"] in ("direct", "im2col")
    auto = next(r for r in conv["impls"] if r["key"] == "fastconv-auto")
    assert auto["time_ms"] > 0 and len(auto["samples_ms"]) == 1
    skipped = next(r for r in conv["impls"] if r["key"] == "naive")
    assert skipped["error"] == "skipped (--skip)"
    (signal,) = payload["signal"]
    assert signal["name"] == "convolve 1e3 x 31"
    assert next(e for e in signal["impls"] if e["key"] == "fastconv")["ms"] > 0


def test_no_match_is_an_error(tmp_path):
    done = _run_cli(tmp_path, "--only", "no-such-workload")
    assert done.returncode == 2
    assert "no workload matches" in done.stderr


def test_calibration_reaches_the_engines():
    """--calibrate times private engine calls: they must compute what they claim."""
    correlate1d, direct_correlate2d = _internals.signal_engines()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(300), rng.standard_normal(7)
    for engine, nfft in (("direct", None), ("fft", (64,))):
        np.testing.assert_allclose(correlate1d(x, w, 0, len(x) - len(w) + 1, engine, nfft),
                                   np.correlate(x, w, "valid"), atol=1e-10)
    image, kernel = rng.standard_normal((40, 30)), rng.standard_normal((5, 3))
    np.testing.assert_allclose(direct_correlate2d(image, kernel),
                               scipy.signal.correlate2d(image, kernel, "same"), atol=1e-10)


def test_calibration_prints_constants_to_paste():
    fitted = {"DIRECT_SEC_PER_MAC": {"float32": 1e-10, "float64": 2e-10},
              "FFT_SEC_PER_NLOGN": {"float32": 6e-10, "float64": 1.2e-9}}
    text = calibrate.format_constants(fitted)
    assert "not found" not in text
    assert re.search(r"^(_?)DIRECT_SEC_PER_MAC = \{\1F32: 1 / 1e\+10, \1F64: 1 / 5e\+09\}$",
                     text, re.M), text
    assert re.search(r"^(_?)FFT_SEC_PER_NLOGN = \{\1F32: 6e-10, \1F64: 1.2e-09\}$", text, re.M)
    # Each constant is headed by the file it lives in today.
    assert re.search(r"^# fastconv/\S+\.py \(fastconv\.\S+\); now \{", text, re.M), text


def _bench_imports(path):
    """The fastconv.bench modules a module imports, at any depth (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
            elif (node.module or "").startswith("fastconv.bench."):
                names = [node.module.split(".")[2]]
            else:
                names = []
            found.update(n.split(".")[0] for n in names)
    return found & set(MODULES)


def test_no_import_cycle_in_the_source():
    graph = {m: _bench_imports(BENCH_DIR / f"{m}.py") for m in MODULES}

    def visit(module, path):
        assert module not in path, "import cycle: " + " -> ".join(path + [module])
        for dep in graph[module]:
            visit(dep, path + [module])

    for module in MODULES:
        visit(module, [])


def test_each_module_imports_alone_without_signal_private_names():
    # fastconv.signal's private names are going away (moved or deleted): strip them all,
    # then import each bench module first, from a clean slate.
    script = textwrap.dedent(f"""
        import importlib, sys
        import fastconv.signal as signal
        for name in [n for n in vars(signal) if n.startswith("_") and not n.startswith("__")]:
            delattr(signal, name)
        for module in {MODULES!r}:
            for loaded in [m for m in sys.modules if m.startswith("fastconv.bench")]:
                del sys.modules[loaded]
            importlib.import_module("fastconv.bench." + module)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(sys.executable))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("module", MODULES)
def test_modules_stay_small(module):
    lines = (BENCH_DIR / f"{module}.py").read_text().count("\n")
    assert lines <= 600, f"fastconv/bench/{module}.py has {lines} lines"


def test_network_suite_names_its_layers_and_runs():
    """At least 30 layers, each named network/layer, with a valid geometry; the suite's
    quick mode runs one layer end to end and prints the figures it is judged by."""
    from fastconv.bench.networks import NETWORK_WORKLOADS

    names = [wl.name for wl in NETWORK_WORKLOADS]
    assert len(names) >= 30 and len(set(names)) == len(names)
    for wl in NETWORK_WORKLOADS:
        network, layer = wl.name.split("/", 1)
        assert network and layer
        assert min(wl.out_shape) >= 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench_main(["--suite", "networks", "--quick", "--only", "lenet5/c3",
                             "--rounds", "1", "--no-progress"])
    assert status == 0
    assert "lenet5/c3 5x5 6->16" in out.getvalue()
