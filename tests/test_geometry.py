"""fastconv._geometry pinned against TensorFlow's documented padding rules.

The reference implementation takes its geometry from _geometry, so comparing kernels with
the reference cannot catch a wrong rule there. These examples are worked out by hand from
TensorFlow's definitions (tf.nn.convolution docs, "Padding"):

  SAME:  out = ceil(in / stride)
         total = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0)
         top/left = total // 2, bottom/right = total - total // 2
  VALID: out = ceil((in - ((k - 1) * dilation + 1) + 1) / stride)
"""
import math

import numpy as np
import pytest

from fastconv import _geometry, _validate


@pytest.mark.parametrize(
    "size, eff_kernel, stride, expected",
    [
        (10, 3, 1, (1, 1)),      # the course's 10x10 with a 3x3 filter
        (512, 3, 1, (1, 1)),     # the course's 512x512 image
        (10, 3, 2, (0, 1)),      # out 5: 4*2 + 3 - 10 = 1, the extra pixel bottom/right
        (7, 4, 1, (1, 2)),       # even kernel: 3 pixels, the extra one bottom/right
        (8, 2, 1, (0, 1)),
        (5, 1, 1, (0, 0)),       # 1x1 needs none
        (5, 3, 3, (0, 1)),       # out 2: 1*3 + 3 - 5 = 1
        (6, 2, 3, (0, 0)),       # out 2: 1*3 + 2 - 6 = -1 -> 0
        (9, 2, 5, (0, 0)),       # stride > kernel: 1*5 + 2 - 9 = -2 -> 0
        (4, 5, 1, (2, 2)),       # kernel larger than the input
        (13, 7, 2, (3, 3)),      # out 7: 6*2 + 7 - 13 = 6
        (8, 5, 2, (1, 2)),       # 3x3 at dilation 2 (effective 5): out 4, 3*2 + 5 - 8 = 3
        (1, 3, 5, (1, 1)),       # one pixel, any stride: out 1
        (11, 4, 3, (1, 1)),      # out 4: 3*3 + 4 - 11 = 2, split evenly
    ],
)
def test_same_padding_examples(size, eff_kernel, stride, expected):
    assert _geometry.same_padding(size, eff_kernel, stride) == expected


def tf_same(size, eff_kernel, stride):
    """TensorFlow's SAME rule, transcribed from its documentation."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + eff_kernel - size, 0)
    return out, (total // 2, total - total // 2)


def tf_valid_out(size, eff_kernel, stride):
    return math.ceil((size - eff_kernel + 1) / stride)


def test_same_padding_follows_tf_rule_exhaustively():
    for size in range(1, 30):
        for k in range(1, 12):
            for stride in range(1, 7):
                out, pads = tf_same(size, k, stride)
                assert _geometry.same_padding(size, k, stride) == pads, (size, k, stride)
                assert _geometry.output_size(size, k, stride, pads) == out, (size, k, stride)


@pytest.mark.parametrize(
    "size, eff_kernel, stride, pad, expected",
    [
        (512, 3, 2, (0, 0), 255),   # course: (1, 512, 512, 1), 3x3, stride 2 rows
        (512, 3, 1, (0, 0), 510),   # ... stride 1 columns
        (28, 3, 1, (0, 0), 26),     # MNIST-like
        (26, 2, 2, (0, 0), 13),     # then max pool 2
        (10, 3, 1, (0, 0), 8),      # 10x10, valid
        (10, 3, 1, (1, 1), 10),     # 10x10, same
        (5, 3, 2, (0, 0), 2),       # ceil(3 / 2)
        (6, 3, 2, (0, 0), 2),       # ceil(4 / 2)
        (7, 2, 3, (0, 0), 2),       # stride > kernel: ceil(6 / 3)
        (5, 5, 1, (0, 0), 1),       # kernel == input
        (3, 5, 1, (1, 1), 1),       # kernel larger than the input, padded to fit exactly
        (7, 3, 1, (2, 0), 7),
        (7, 4, 2, (1, 3), 4),       # (7 + 4 - 4) // 2 + 1
        (2, 3, 1, (0, 0), 0),       # never fits
    ],
)
def test_output_size_examples(size, eff_kernel, stride, pad, expected):
    assert _geometry.output_size(size, eff_kernel, stride, pad) == expected


def test_valid_output_follows_tf_rule_exhaustively():
    for size in range(1, 30):
        for k in range(1, size + 1):
            for stride in range(1, 7):
                assert _geometry.output_size(size, k, stride, (0, 0)) == tf_valid_out(size, k, stride)


@pytest.mark.parametrize(
    "kernel, dilation, expected",
    [((3, 3), (1, 1), (3, 3)), ((3, 3), (2, 2), (5, 5)), ((3, 2), (2, 3), (5, 4)), ((1, 1), (4, 4), (1, 1))],
)
def test_effective_kernel(kernel, dilation, expected):
    assert _geometry.effective_kernel(kernel, dilation) == expected


@pytest.mark.parametrize(
    "padding, expected",
    [
        ("valid", ((0, 0), (0, 0))),
        ("same", ((1, 1), (2, 2))),         # in (10, 12), effective kernel (3, 5), stride 1
        (0, ((0, 0), (0, 0))),
        (2, ((2, 2), (2, 2))),
        ((1, 3), ((1, 1), (3, 3))),
        ([1, 3], ((1, 1), (3, 3))),
        (((0, 2), (3, 1)), ((0, 2), (3, 1))),
        ([[0, 2], [3, 1]], ((0, 2), (3, 1))),
        ((np.int64(1), 2), ((1, 1), (2, 2))),
    ],
)
def test_resolve_padding_forms(padding, expected):
    assert _geometry.resolve_padding(padding, (10, 12), (3, 5), (1, 1)) == expected


@pytest.mark.parametrize("padding", ["full", "causal", "", -1, (0, -1), ((0, 1), (-2, 0)), (1, 2, 3)])
def test_resolve_padding_rejects(padding):
    with pytest.raises(ValueError, match="padding"):
        _geometry.resolve_padding(padding, (10, 10), (3, 3), (1, 1))


@pytest.mark.parametrize(
    "in_hw, kernel, stride, dilation, padding, pads, out_hw",
    [
        ((512, 512), (3, 3), (2, 1), (1, 1), "valid", ((0, 0), (0, 0)), (255, 510)),
        ((512, 512), (3, 3), (1, 1), (1, 1), "same", ((1, 1), (1, 1)), (512, 512)),
        ((10, 10), (3, 3), (1, 1), (1, 1), "same", ((1, 1), (1, 1)), (10, 10)),
        ((10, 10), (3, 3), (1, 1), (1, 1), "valid", ((0, 0), (0, 0)), (8, 8)),
        ((8, 9), (3, 3), (2, 2), (2, 2), "same", ((1, 2), (2, 2)), (4, 5)),   # eff 5x5
        ((9, 9), (3, 3), (1, 1), (2, 2), "valid", ((0, 0), (0, 0)), (5, 5)),
        ((7, 6), (2, 3), (3, 2), (1, 1), "same", ((0, 1), (0, 1)), (3, 3)),
        ((6, 6), (3, 3), (1, 1), (1, 1), ((0, 2), (3, 1)), ((0, 2), (3, 1)), (6, 8)),
        ((3, 3), (5, 5), (1, 1), (1, 1), 1, ((1, 1), (1, 1)), (1, 1)),
    ],
)
def test_window_geometry(in_hw, kernel, stride, dilation, padding, pads, out_hw):
    assert _geometry.window_geometry(in_hw, kernel, stride, dilation, padding) == (pads, out_hw)


def test_window_geometry_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        _geometry.window_geometry((3, 3), (5, 5), (1, 1), (1, 1), "valid")
    with pytest.raises(ValueError, match="larger than the padded input"):
        _geometry.window_geometry((4, 9), (3, 3), (1, 1), (2, 1), "valid")   # eff 5 > 4


@pytest.mark.parametrize(
    "value, expected",
    [(1, (1, 1)), (3, (3, 3)), ((2, 1), (2, 1)), ([1, 4], (1, 4)), (np.int32(2), (2, 2)),
     (np.array([2, 3]), (2, 3))],
)
def test_positive_pair(value, expected):
    assert _validate.positive_pair(value, "stride") == expected


@pytest.mark.parametrize("value", [0, -1, (1, 0), (0, 2), (1, 2, 3), ()])
def test_positive_pair_value_errors(value):
    with pytest.raises(ValueError, match="stride"):
        _validate.positive_pair(value, "stride")


@pytest.mark.parametrize("value", [True, 1.0, (1, 2.0), "2", None, (True, 1)])
def test_positive_pair_type_errors(value):
    with pytest.raises(TypeError, match="stride"):
        _validate.positive_pair(value, "stride")


# ---------------------------------------------------------------------------
# Chunked arrays (fastconv.dask): output chunks, input spans, overlapping chunks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "in_chunks, stride, out_size, expected",
    [
        ((32, 32, 36), 1, 100, (32, 32, 36)),    # "same" at stride 1 keeps the chunks
        ((32, 32, 36), 2, 50, (16, 16, 18)),     # anchors 2 * o: cuts at ceil(32 / 2) ...
        ((30, 30, 30), 1, 86, (30, 30, 26)),     # "valid" 5x5: the last chunk is short
        ((1, 1, 1, 1, 1), 3, 2, (1, 1)),         # 1-pixel chunks narrower than the stride
        ((5, 5), 1, 3, (3,)),                    # every output anchored in the first chunk
        ((7,), 2, 4, (4,)),                      # one chunk
        ((5, 5), 2, 5, (3, 2)),                  # input 4 and its output 2 are in chunk 0
        ((10, 10), 1, 24, (10, 14)),             # "full": extra outputs go to the last chunk
    ],
)
def test_output_chunks_examples(in_chunks, stride, out_size, expected):
    assert _geometry.output_chunks(in_chunks, stride, out_size) == expected


@pytest.mark.parametrize(
    "out_range, in_size, eff, stride, pad_before, expected",
    [
        # 3x3 "same" at stride 1 (pads 1, 1) on 10 rows, outputs 0..4: rows 0..5, 1 pad on top.
        ((0, 5), 10, 3, 1, 1, (0, 6, 1, 0)),
        ((5, 10), 10, 3, 1, 1, (4, 10, 0, 1)),
        # 4x4 "same" (pads 1, 2): the halo is asymmetric, 1 before and 2 after.
        ((3, 6), 10, 4, 1, 1, (2, 8, 0, 0)),
        # 7x7 stride 2 "same" on 224 (pads 2, 3): outputs 16..31 read rows 30..68.
        ((16, 32), 224, 7, 2, 2, (30, 67, 0, 0)),
        ((96, 112), 224, 7, 2, 2, (190, 224, 0, 3)),
        # stride 3 > kernel 2: the last output's window ends well before the next anchor.
        ((0, 2), 9, 2, 3, 0, (0, 5, 0, 0)),
        # windows wholly in a large padding read nothing: their extent is all padding.
        ((0, 1), 3, 3, 1, 5, (0, 0, 3, 0)),
        ((4, 6), 2, 2, 2, 0, (2, 2, 4, 0)),
    ],
)
def test_input_span_examples(out_range, in_size, eff, stride, pad_before, expected):
    span = _geometry.input_span(*out_range, in_size, eff, stride, pad_before)
    assert (span.start, span.stop, span.pad_before, span.pad_after) == expected


def test_outputs_reading_within_is_what_the_windows_read():
    """Brute force: every output in [lo, hi) reads only first .. stop - 1 and the padding
    beyond the image's ends, and the outputs just outside that read the image read
    other positions of it (so the frame around [lo, hi), which fastconv.dask
    recomputes, is no wider than it must be). An output whose window skips the rest of
    the image into the padding is left to the frame."""
    for size in range(1, 9):
        for eff in range(1, 5):
            for stride in range(1, 4):
                for before in range(0, 3):
                    out = _geometry.output_size(size, eff, stride, (before, 2))
                    for first in range(size):
                        for stop in range(first + 1, size + 1):
                            def within(o):
                                start = o * stride - before
                                return all(p < 0 or p >= size or first <= p < stop
                                           for p in range(start, start + eff))
                            lo, hi = _geometry.outputs_reading_within(
                                first, stop, size, eff, stride, before, out)
                            case = (size, eff, stride, before, first, stop)
                            assert all(within(o) for o in range(lo, hi)), case
                            def reads_image(o):
                                start = o * stride - before
                                return start < size and start + eff > 0
                            if lo < hi:
                                assert lo == 0 or not reads_image(lo - 1) \
                                    or not within(lo - 1), case
                                assert hi == out or not reads_image(hi) or not within(hi), case


def test_input_span_is_what_the_windows_read():
    """Brute force over small axes: the span is the input positions from the first
    window's first tap to the last window's last (the taps between, which a stride may
    skip, come along: a kernel call takes one contiguous piece), clipped to the input,
    and the padding is what the clipping cut off."""
    for in_size in range(1, 9):
        for eff in range(1, 6):
            for stride in range(1, 4):
                for pad_before in range(0, 4):
                    pads = (pad_before, 3)
                    out = _geometry.output_size(in_size, eff, stride, pads)
                    for o0 in range(out):
                        for o1 in range(o0 + 1, out + 1):
                            span = _geometry.input_span(o0, o1, in_size, eff, stride,
                                                        pad_before)
                            read = {o * stride - pad_before + j for o in range(o0, o1)
                                    for j in range(eff)}
                            real = [p for p in range(min(read), max(read) + 1)
                                    if 0 <= p < in_size]
                            extent = max(read) - min(read) + 1
                            assert span.stop - span.start + span.pad_before \
                                + span.pad_after == extent
                            if real:
                                assert (span.start, span.stop) == (real[0], real[-1] + 1)
                                assert span.pad_before == real[0] - min(read)
                            else:
                                assert not span.real


@pytest.mark.parametrize(
    "chunks, start, stop, expected",
    [
        ((5, 7, 1, 9), 0, 5, [0]),
        ((5, 7, 1, 9), 4, 6, [0, 1]),
        ((5, 7, 1, 9), 12, 13, [2]),
        ((5, 7, 1, 9), 11, 14, [1, 2, 3]),
        ((5, 0, 7), 5, 6, [2]),          # an empty chunk holds nothing
        ((5, 7), 3, 3, []),
    ],
)
def test_chunks_overlapping_examples(chunks, start, stop, expected):
    assert list(_geometry.chunks_overlapping(chunks, start, stop)) == expected
