"""The peers that may be missing: PyTorch and OpenCV, imported on first use."""


def torch_module():
    """``torch``, or None when it is not installed (or fails to import)."""
    try:
        import torch
    except Exception:  # not installed, or a broken install: the benchmark goes on without it
        return None
    return torch


def cv2_module():
    """``cv2``, or None when OpenCV is not installed (or fails to import)."""
    try:
        import cv2
    except Exception:
        return None
    return cv2
