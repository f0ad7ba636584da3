"""Peak memory of one call beyond its input and output stays bounded (tens of MiB).

Each case runs in a fresh subprocess on an input of about 1 GiB, and reads the
process's peak resident size (ru_maxrss) before and after the call. The input
and output are allocated and touched before the first reading, so the growth is
the call's own workspace plus anything it copies.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import fastconv

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="ru_maxrss in KiB is Linux's convention"),
    # A claim about the release build; -O0 with AddressSanitizer would take minutes here.
    pytest.mark.skipif(fastconv._config.debug_build(), reason="release-build property"),
]

GIB = 1 << 30
BOUND_MIB = 64

CASES = {
    # name: (x shape (float32, 1 GiB), w shape or pool size, call)
    "direct one-channel 3x3": ((1, 16384, 16384, 1), (3, 3, 1, 1), "direct"),
    "direct 3x3x8x8": ((1, 8192, 4096, 8), (3, 3, 8, 8), "direct"),
    "im2col 3x3x8x8": ((1, 8192, 4096, 8), (3, 3, 8, 8), "im2col"),
    "max_pool2d 2x2": ((1, 8192, 4096, 8), 2, "max_pool2d"),
    # Border modes: no padded copy of the input, only small padded pieces of its edges.
    "direct 3x3x8x8 reflect": ((1, 8192, 4096, 8), (3, 3, 8, 8), "direct reflect"),
    "sep_conv2d 7+7 reflect": ((1, 8192, 4096, 8), 7, "sep_conv2d"),
}

SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import fastconv
    x_shape, w_spec, how = json.loads(sys.argv[1])
    x_shape = tuple(x_shape)
    x = np.ones(x_shape, dtype=np.float32)
    # out starts as NaN, so a kernel that wrote nothing (or only part) cannot pass.
    if how == "sep_conv2d":
        out = np.full(x_shape, np.nan, np.float32)
        taps = np.ones(w_spec, np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fastconv.sep_conv2d(x, taps, taps, padding="same", pad_mode="reflect", out=out)
        expected_interior = float(w_spec * w_spec)
    elif how == "max_pool2d":
        out = np.full((x_shape[0], x_shape[1] // w_spec, x_shape[2] // w_spec, x_shape[3]),
                      np.nan, np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fastconv.max_pool2d(x, w_spec, out=out)
        expected_interior = 1.0
    else:
        w = np.ones(tuple(w_spec), dtype=np.float32)
        out = np.full(x_shape[:3] + (w_spec[3],), np.nan, np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method, _, mode = how.partition(" ")
        fastconv.conv2d(x, w, padding="same", method=method, pad_mode=mode or "constant",
                        out=out)
        # an interior pixel sums the whole all-ones window
        expected_interior = float(w_spec[0] * w_spec[1] * w_spec[2])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # a reflected border holds ones too: there, every output is the interior's value
    interior = out if ("reflect" in how or how == "sep_conv2d") else out[:, 1:-1, 1:-1, :]
    ok = bool(not np.isnan(out).any() and (interior == expected_interior).all())
    print(json.dumps({"growth_kib": after - before, "ok": ok, "peak_kib": after}))
    """
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_gib_input_needs_bounded_workspace(name, tmp_path):
    x_shape, spec, how = CASES[name]
    # The child imports the same fastconv as this process (source tree or installed).
    env = dict(os.environ,
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__))))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([x_shape, spec, how])],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], "the call left values unwritten or computed a wrong value"
    print(f"{name}: workspace {result['growth_kib'] / 1024:.1f} MiB, "
          f"peak RSS {result['peak_kib'] / 1024:.0f} MiB for a 1 GiB input and output")
    assert result["growth_kib"] < BOUND_MIB * 1024, (
        f"{name}: peak memory grew by {result['growth_kib'] / 1024:.1f} MiB during the call")
