"""python -m fastconv.bench --suite training: its table covers what issue 11 asks, and a
row runs (with PyTorch when it is installed, fastconv alone otherwise)."""
import dataclasses

import numpy as np

from fastconv.bench import training
from fastconv.bench.workloads import WORKLOADS


def test_the_rows_cover_the_issue():
    layers = {wl.name.split(":", 1)[1]: wl for wl in training.TRAINING_WORKLOADS
              if wl.op == "grad_input"}
    assert len(layers) >= 12
    assert {wl.name.split(":", 1)[1] for wl in training.TRAINING_WORKLOADS
            if wl.op == "grad_weight"} == set(layers)
    assert any(wl.stride == 2 for wl in layers.values())
    assert any(wl.w_shape[:2] == (1, 1) for wl in layers.values())
    assert any(wl.groups > 1 and wl.w_shape[2] == 1 for wl in layers.values())  # depthwise
    assert any(min(wl.w_shape[2], wl.w_shape[3]) <= 3 for wl in layers.values())  # narrow
    pools = {(wl.op.replace("_grad", ""), wl.x_shape, wl.pool_size, wl.padding)
             for wl in training.TRAINING_WORKLOADS if wl.group == "pool_grad"}
    assert pools == {(wl.op, wl.x_shape, wl.pool_size[0], wl.padding)
                     for wl in WORKLOADS if not wl.is_conv}
    transposes = {(wl.w_shape[:2], wl.stride) for wl in training.TRAINING_WORKLOADS
                  if wl.op == "conv2d_transpose"}
    assert {((3, 3), 2), ((4, 4), 2)} <= transposes


def test_a_row_runs_and_agrees():
    for name in ("grad-weight:mnist-3x3x1x32", "maxpool-grad:mnist-2x2",
                 "transpose:dcgan-4x4s2-64to3"):
        wl = next(wl for wl in training.TRAINING_WORKLOADS if wl.name == name)
        wl = dataclasses.replace(wl, x_shape=(2, *wl.x_shape[1:]))
        res = training.run_training_row(wl, np.float32, rounds=1, min_sample=0.001)
        assert res["fastconv_ms"] > 0
        assert res.get("agrees", True), res
        assert name in training.format_row(res)
    assert any("MET" in line or "MISSED" in line
               for line in training.summarize([dict(res, speedup=1.0)]))
