"""Type aliases shared by the public signatures and the rule modules."""
from __future__ import annotations

from typing import Literal, Optional, Tuple, Union

from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "NDArray", "IntPair", "PadPairs", "IntOrPair", "Padding", "Method", "Workers",
           "PadMode"]

IntPair = Tuple[int, int]
PadPairs = Tuple[Tuple[int, int], Tuple[int, int]]
IntOrPair = Union[int, Tuple[int, int]]
# "valid", "same", p, (ph, pw) or ((top, bottom), (left, right))
Padding = Union[str, int, Tuple[int, int], Tuple[Tuple[int, int], Tuple[int, int]]]
Workers = Optional[int]
Method = Literal["auto", "direct", "im2col"]
# np.pad's modes, as conv2d's pad_mode
PadMode = Literal["constant", "reflect", "symmetric", "edge", "wrap"]
