"""Train the course's ConvNet on scikit-learn's digits with NumPy and fastconv.

    conv 3x3 (32) -> relu -> max pool 2x2 -> conv 3x3 (64) -> relu -> dense (10) -> softmax

Everything is NumPy except fastconv's forward and backward calls: conv2d and
max_pool2d forward, conv2d_grad_input, conv2d_grad_weight and max_pool2d_grad
backward. Plain SGD with momentum; a held-out test split. The 1,797 8x8 digits ship
with scikit-learn (no download): ``pip install 'fastconv[examples]'``, then::

    python examples/train_digits.py                 # ~10 epochs, a few seconds
    python examples/train_digits.py --compare-torch # also times one step in PyTorch

It prints one line per epoch (loss, train and test accuracy, time) and a final line
with the test accuracy.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable, Optional

import numpy as np

import fastconv

Params = dict[str, np.ndarray]

CONV1, CONV2, CLASSES = 32, 64, 10


def init_params(rng: np.random.Generator, image_hw: tuple[int, int] = (8, 8),
                dtype: type = np.float32) -> Params:
    """He-initialised weights (HWIO kernels, as Keras) and zero biases."""
    h, w = image_hw
    flat = (h // 2) * (w // 2) * CONV2

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)

    return {
        "w1": he((3, 3, 1, CONV1), 9), "b1": np.zeros(CONV1, dtype),
        "w2": he((3, 3, CONV1, CONV2), 9 * CONV1), "b2": np.zeros(CONV2, dtype),
        "w3": he((flat, CLASSES), flat), "b3": np.zeros(CLASSES, dtype),
    }


def forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Logits for a batch of NHWC images, and what the backward pass needs."""
    z1 = fastconv.conv2d(x, params["w1"], params["b1"], padding="same")
    a1 = np.maximum(z1, 0)
    p1 = fastconv.max_pool2d(a1)
    z2 = fastconv.conv2d(p1, params["w2"], params["b2"], padding="same")
    a2 = np.maximum(z2, 0)
    flat = a2.reshape(len(x), -1)
    logits = flat @ params["w3"] + params["b3"]
    return logits, {"x": x, "z1": z1, "a1": a1, "p1": p1, "z2": z2, "flat": flat}


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax, and its gradient in the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -float(log_probs[np.arange(n), labels].mean())
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return loss, (dlogits / n).astype(logits.dtype)


def backward(params: Params, cache: dict[str, np.ndarray], dlogits: np.ndarray) -> Params:
    """Gradients of the loss in every parameter, layer by layer from the top."""
    grads = {"w3": cache["flat"].T @ dlogits, "b3": dlogits.sum(0)}
    dz2 = (dlogits @ params["w3"].T).reshape(cache["z2"].shape) * (cache["z2"] > 0)
    grads["w2"] = fastconv.conv2d_grad_weight(cache["p1"], dz2, params["w2"].shape,
                                              padding="same")
    grads["b2"] = dz2.sum((0, 1, 2))                     # the bias gradient: dy summed
    dp1 = fastconv.conv2d_grad_input(dz2, params["w2"], cache["p1"].shape, padding="same")
    da1 = fastconv.max_pool2d_grad(cache["a1"], dp1)
    dz1 = da1 * (cache["z1"] > 0)
    grads["w1"] = fastconv.conv2d_grad_weight(cache["x"], dz1, params["w1"].shape,
                                              padding="same")
    grads["b1"] = dz1.sum((0, 1, 2))
    return grads


def loss_and_grads(params: Params, x: np.ndarray, labels: np.ndarray) -> tuple[float, Params]:
    logits, cache = forward(params, x)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    return loss, backward(params, cache, dlogits)


def sgd_momentum_step(params: Params, grads: Params, velocity: Params, lr: float,
                      momentum: float) -> None:
    """v = momentum * v - lr * g; p += v (in place)."""
    for name, g in grads.items():
        velocity[name] *= momentum
        velocity[name] -= lr * g
        params[name] += velocity[name]


def accuracy(params: Params, x: np.ndarray, labels: np.ndarray, batch: int = 512) -> float:
    correct = sum(int((forward(params, x[i:i + batch])[0].argmax(1) == labels[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    return correct / len(x)


def train(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
          epochs: int = 10, batch_size: int = 32, lr: float = 0.05, momentum: float = 0.9,
          seed: int = 0, log: Optional[Callable[[str], None]] = print) -> tuple[Params, list[dict]]:
    """SGD with momentum over shuffled mini-batches; returns the parameters and per-epoch
    statistics (mean loss, train and test accuracy, seconds)."""
    rng = np.random.default_rng(seed)
    params = init_params(rng, x_train.shape[1:3])
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(x_train))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss, grads = loss_and_grads(params, x_train[idx], y_train[idx])
            sgd_momentum_step(params, grads, velocity, lr, momentum)
            losses.append(loss)
        seconds = time.perf_counter() - t0
        stats = {"epoch": epoch, "loss": float(np.mean(losses)),
                 "train_acc": accuracy(params, x_train, y_train),
                 "test_acc": accuracy(params, x_test, y_test), "seconds": seconds}
        history.append(stats)
        if log is not None:
            log(f"epoch {epoch:2d}  loss {stats['loss']:.4f}  train acc {stats['train_acc']:.4f}"
                f"  test acc {stats['test_acc']:.4f}  {seconds:.2f} s")
    return params, history


def load_digits_split(test_fraction: float = 0.2,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as NHWC float32 in [0, 1], split into train and test sets."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, tr = order[:n_test], order[n_test:]
    return x[tr], y[tr], x[test], y[test]


def time_one_step(batch_size: int = 32, repeats: int = 50,
                  compare: bool = True) -> tuple[float, Optional[float]]:
    """Median seconds of one training step (forward, backward, update) with fastconv,
    and (``compare``) of the same network in PyTorch (channels_last) when it is installed."""
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, CLASSES, batch_size)
    params = init_params(rng)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def ours() -> None:
        _, grads = loss_and_grads(params, x, y)
        sgd_momentum_step(params, grads, velocity, 0.01, 0.9)

    def median_time(step: Callable[[], None]) -> float:
        step()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    try:
        if not compare:
            raise ImportError
        import torch
    except ImportError:
        return median_time(ours), None
    torch.set_num_threads(fastconv.get_num_threads())
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, CONV1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(CONV1, CONV2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(16 * CONV2, CLASSES)).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    ty = torch.from_numpy(y)

    def theirs() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(tx), ty).backward()
        opt.step()

    a, b = [], []
    for _ in range(3):  # interleaved rounds: the machine may be shared
        a.append(median_time(ours))
        b.append(median_time(theirs))
    return float(np.median(a)), float(np.median(b))


def main(argv: Optional[list[str]] = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="fastconv threads")
    ap.add_argument("--compare-torch", action="store_true",
                    help="time one training step here and in PyTorch (if installed)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        fastconv.set_num_threads(args.threads)
    x_train, y_train, x_test, y_test = load_digits_split(seed=args.seed)
    print(f"digits: {len(x_train)} train, {len(x_test)} test images of 8x8; "
          f"fastconv {fastconv.__version__}, {fastconv.get_num_threads()} threads")
    t0 = time.perf_counter()
    params, history = train(x_train, y_train, x_test, y_test, epochs=args.epochs,
                            batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                            seed=args.seed)
    total = time.perf_counter() - t0
    print(f"test accuracy {history[-1]['test_acc']:.4f} after {args.epochs} epochs "
          f"in {total:.1f} s")
    if args.compare_torch:
        ours, theirs = time_one_step(args.batch_size)
        line = f"one training step (batch {args.batch_size}): fastconv {ours * 1e3:.2f} ms"
        if theirs is not None:
            line += f", PyTorch {theirs * 1e3:.2f} ms ({theirs / ours:.2f}x)"
        else:
            line += " (PyTorch not installed)"
        print(line)
    return history[-1]["test_acc"]


if __name__ == "__main__":
    main()
