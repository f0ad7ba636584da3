"""examples/train_digits.py: a few steps of its training loop on a tiny synthetic set
(no scikit-learn needed), and its backward pass against finite differences."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bars(rng, n):
    """8x8 images of three classes: a horizontal bar, a vertical bar, a diagonal; noisy."""
    labels = rng.integers(0, 3, n)
    images = 0.1 * rng.random((n, 8, 8, 1))
    for i, label in enumerate(labels):
        k = rng.integers(1, 7)
        if label == 0:
            images[i, k, 1:7, 0] += 1
        elif label == 1:
            images[i, 1:7, k, 0] += 1
        else:
            images[i, np.arange(8), np.arange(8), 0] += 1
    return images.astype(np.float32), labels


def test_a_few_epochs_lower_the_loss_and_learn(example):
    rng = np.random.default_rng(0)
    x, y = _bars(rng, 160)
    log = []
    _, history = example.train(x[:128], y[:128], x[128:], y[128:], epochs=3, batch_size=16,
                               lr=0.02, log=log.append)
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert history[-1]["test_acc"] >= 0.9, history
    assert len(log) == 3 and log[0].startswith("epoch  1  loss")


def test_the_backward_pass_agrees_with_finite_differences(example):
    rng = np.random.default_rng(1)
    x, y = _bars(rng, 4)
    x = x.astype(np.float64)
    params = example.init_params(rng, dtype=np.float64)
    for name in params:  # biases away from zero, so that no ReLU sits on its kink
        params[name] = params[name] + 0.01 * rng.standard_normal(params[name].shape)
    _, grads = example.loss_and_grads(params, x, y)
    eps = 1e-6
    for name, value in params.items():
        direction = rng.standard_normal(value.shape)

        def loss_at(step):
            moved = dict(params, **{name: value + step * direction})
            return example.softmax_cross_entropy(example.forward(moved, x)[0], y)[0]

        numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
        analytic = float(np.vdot(grads[name], direction))
        assert abs(numeric - analytic) <= 1e-5 * (1 + abs(analytic)), (name, numeric, analytic)


def test_one_step_time_runs(example):
    ours, theirs = example.time_one_step(batch_size=4, repeats=2, compare=False)
    assert theirs is None
    assert ours > 0
