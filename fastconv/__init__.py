"""fastconv: fast CPU 2-D convolution and pooling on NHWC float32/float64 arrays.

Keras conventions: NHWC input, HWIO kernels, cross-correlation, TensorFlow's
"same" padding. Drop-ins for ``numpy.convolve``/``correlate`` and
``scipy.signal.convolve2d``/``correlate2d``.
"""
from ._version import __version__


def _explain_missing_kernels(error: ImportError) -> ImportError:
    """NumPy's courtesy: say why the compiled kernels are missing and what to run."""
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(package)
    if os.path.exists(os.path.join(checkout, "setup.py")) and os.path.isdir(
            os.path.join(checkout, "src", "fastconv")):
        return ImportError(
            f"fastconv is being imported from its source tree ({package}), whose compiled "
            f"kernels are not built. Run `pip install .` in {checkout}: it builds the "
            f"kernels, installs them and places copies here, so that this folder imports "
            f"too. Or start Python outside {checkout} to use an installed fastconv. "
            f"(Original error: {error})"
        )
    return ImportError(
        f"fastconv's compiled kernels cannot be imported ({error}); reinstall fastconv "
        f"with `pip install --force-reinstall fastconv` or from its source tree with "
        f"`pip install .`"
    )


try:
    from . import _config  # the first compiled module: fails alone if none is built
except ImportError as _error:
    raise _explain_missing_kernels(_error) from None

from . import reference
from ._info import show_config
from ._threads import get_num_threads, set_num_threads
from .conv import conv2d, sep_conv2d
from .grad import (avg_pool2d_grad, conv2d_grad_input, conv2d_grad_weight, conv2d_transpose,
                   max_pool2d_grad)
from .pool import avg_pool2d, max_pool2d
from .signal import convolve, convolve2d, correlate, correlate2d

__all__ = [
    "__version__",
    "conv2d",
    "sep_conv2d",
    "max_pool2d",
    "avg_pool2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv2d_transpose",
    "max_pool2d_grad",
    "avg_pool2d_grad",
    "convolve",
    "correlate",
    "convolve2d",
    "correlate2d",
    "get_num_threads",
    "set_num_threads",
    "show_config",
    "reference",
]
