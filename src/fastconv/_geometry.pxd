"""The sliding-window geometry a kernel receives, already validated by the Python layer."""


cdef struct Window:
    Py_ssize_t batch, in_h, in_w, in_c       # input  (N, H, W, C), C-contiguous
    Py_ssize_t out_h, out_w, out_c           # output (N, OH, OW, C_out), C-contiguous
    Py_ssize_t k_h, k_w                      # window size (kernel or pool)
    Py_ssize_t stride_h, stride_w
    Py_ssize_t dil_h, dil_w
    Py_ssize_t pad_top, pad_left             # bottom/right padding is implied by out_h/out_w
    Py_ssize_t groups                        # conv only; 1 for pooling
    # Border modes other than zeros (np.pad's "reflect", "edge" ...): the input row or
    # column that each padded position reads, indexed from the first padded position;
    # NULL where the padding is zeros. Only kernels that say so read them.
    const Py_ssize_t* row_source
    const Py_ssize_t* col_source


cdef inline Window make_window(const Py_ssize_t* in_shape, const Py_ssize_t* out_shape,
                               tuple window, tuple stride, tuple dilation, tuple pad_top_left,
                               Py_ssize_t groups):
    """in_shape and out_shape are the 4-D (N, H, W, C) shapes of the input and output views."""
    cdef Window g
    g.batch, g.in_h, g.in_w, g.in_c = in_shape[0], in_shape[1], in_shape[2], in_shape[3]
    g.out_h, g.out_w, g.out_c = out_shape[1], out_shape[2], out_shape[3]
    g.k_h, g.k_w = window
    g.stride_h, g.stride_w = stride
    g.dil_h, g.dil_w = dilation
    g.pad_top, g.pad_left = pad_top_left
    g.groups = groups
    g.row_source = NULL
    g.col_source = NULL
    return g


cdef inline int check_conv_contract(Window* g, Py_ssize_t w_cin, Py_ssize_t w_cout,
                                    Py_ssize_t bias_len) except -1:
    """O(1) defence in depth: the shapes the kernel will index must agree.

    The Python layer guarantees this; checking here too means no caller of a
    private kernel can make it read or write out of bounds. Input taps are
    bounds-tested per pixel, so any out_h/out_w is safe for reading x.
    """
    if g.groups < 1 or g.in_c != w_cin * g.groups or g.out_c != w_cout or g.out_c % g.groups:
        raise ValueError(f"kernel contract: channels x={g.in_c} w=({w_cin}, {w_cout}) "
                         f"out={g.out_c} groups={g.groups} disagree")
    if bias_len != g.out_c:
        raise ValueError(f"kernel contract: bias has {bias_len} values for {g.out_c} channels")
    if min(g.stride_h, g.stride_w, g.dil_h, g.dil_w) < 1 or min(g.pad_top, g.pad_left) < 0:
        raise ValueError("kernel contract: stride/dilation must be >= 1 and padding >= 0")
    return 0


cdef inline int check_pool_contract(Window* g) except -1:
    """Every window must hold a real pixel: the kernel starts each one from its first pixel."""
    if g.out_c != g.in_c or min(g.stride_h, g.stride_w) < 1 or min(g.k_h, g.k_w) < 1:
        raise ValueError("kernel contract: pooling shapes disagree")
    if not (0 <= g.pad_top < g.k_h and 0 <= g.pad_left < g.k_w):
        raise ValueError("kernel contract: pooling padding must be smaller than the window")
    if g.out_h > 0 and g.out_w > 0 and (
            (g.out_h - 1) * g.stride_h - g.pad_top >= g.in_h
            or (g.out_w - 1) * g.stride_w - g.pad_left >= g.in_w):
        raise ValueError("kernel contract: the last pooling window starts outside the image")
    return 0


# Index helpers: the one statement of how an output pixel and a tap find their input.
# Results may lie in the padding (negative, or past the edge); callers test with inside().
cdef inline Py_ssize_t input_row(const Window* g, Py_ssize_t oh, Py_ssize_t kh) noexcept nogil:
    """The input row that kernel row kh of output row oh reads."""
    return oh * g.stride_h - g.pad_top + kh * g.dil_h


cdef inline Py_ssize_t input_col(const Window* g, Py_ssize_t ow, Py_ssize_t kw) noexcept nogil:
    """The input column that kernel column kw of output column ow reads."""
    return ow * g.stride_w - g.pad_left + kw * g.dil_w


cdef inline bint inside(Py_ssize_t i, Py_ssize_t size) noexcept nogil:
    return 0 <= i < size


cdef inline Py_ssize_t source_row(const Window* g, Py_ssize_t oh, Py_ssize_t kh) noexcept nogil:
    """The input row that kernel row kh of output row oh takes its values from: input_row,
    or for a row in the padding the row that row_source names, or -1 (zeros)."""
    cdef Py_ssize_t ih = input_row(g, oh, kh)
    if inside(ih, g.in_h):
        return ih
    return g.row_source[ih + g.pad_top] if g.row_source != NULL else -1


cdef inline Py_ssize_t source_col(const Window* g, Py_ssize_t ow, Py_ssize_t kw) noexcept nogil:
    """source_row's rule for columns (col_source)."""
    cdef Py_ssize_t iw = input_col(g, ow, kw)
    if inside(iw, g.in_w):
        return iw
    return g.col_source[iw + g.pad_left] if g.col_source != NULL else -1


cdef inline Py_ssize_t pixel_offset(const Window* g, Py_ssize_t n, Py_ssize_t ih,
                                    Py_ssize_t iw) noexcept nogil:
    """Offset of input pixel (n, ih, iw)'s first channel in the C-contiguous NHWC input."""
    return ((n * g.in_h + ih) * g.in_w + iw) * g.in_c
