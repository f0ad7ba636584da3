"""Gradients of conv2d and of the pools: compute only, on data the caller prepared.

conv2d_grad_input is a GEMM followed by col2im, band by band: a band of dy rows
times the kernel (transposed) gives each dy pixel's receptive-field gradient, which
is added back where conv2d read it. No zeros are inserted. Bands far enough apart
never touch the same dx row, so the even bands run in parallel, then the odd ones.
Depthwise layers go by dx rows instead: for one dx row, a kernel row kh meets a dy
row only when ih + pad_top - kh*dh is a multiple of the stride, and a kernel column
meets one stride phase of the row's columns, which read consecutive dy pixels.

conv2d_grad_weight packs a tile of receptive fields (im2col, as the forward pass)
and adds patches^T @ dy_tile into a partial sum. The tiles are cut into chunks
whose number the caller fixes independently of the thread count; each chunk sums its
tiles in order into its own partial sum, and the partial sums are added in chunk
order. The result is therefore the same bits on any number of threads.

Depthwise layers (one input and one output channel per group) have no matrix
product worth a BLAS call: both gradients run a direct loop over channels instead.

Pooling gradients own (image, channel block) pairs, so windows that overlap add up
without two threads touching one value.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from fastconv._blas cimport gemm_rowmajor_op
from fastconv._patches cimport pack_patches
from fastconv._geometry cimport (Window, check_conv_contract, check_pool_contract, input_col,
                                 input_row, inside, make_window, pixel_offset)


cdef enum:
    GRAD_BLOCK = 32   # channels one pooling-gradient work item owns


cdef inline Py_ssize_t _floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """floor(a / b) for b > 0, the same in C (cdivision) and Python division."""
    if a >= 0:
        return a // b
    return -((-a + b - 1) // b)


cdef inline bint _tap_row(const Window* g, Py_ssize_t ih, Py_ssize_t kh,
                          Py_ssize_t* oh) noexcept nogil:
    """Whether kernel row kh of some dy row reads dx row ih; that dy row in oh."""
    cdef Py_ssize_t num = ih + g.pad_top - kh * g.dil_h
    if num < 0 or num % g.stride_h:
        return False
    oh[0] = num // g.stride_h
    return oh[0] < g.out_h


cdef inline Py_ssize_t _tap_columns(const Window* g, Py_ssize_t kw, Py_ssize_t* ow0,
                                    Py_ssize_t* iw0) noexcept nogil:
    """The dy columns ow0, ow0 + 1, ... whose kernel column kw reads a dx column inside
    the image; the first of those dx columns in iw0 (the next are a stride apart).
    Returns how many there are (maybe 0)."""
    cdef Py_ssize_t offset = kw * g.dil_w - g.pad_left   # iw = ow * stride + offset
    cdef Py_ssize_t lo = _floor_div(-offset + g.stride_w - 1, g.stride_w)
    cdef Py_ssize_t hi = _floor_div(g.in_w - 1 - offset, g.stride_w)
    if lo < 0:
        lo = 0
    if hi > g.out_w - 1:
        hi = g.out_w - 1
    ow0[0] = lo
    iw0[0] = lo * g.stride_w + offset
    return hi - lo + 1 if hi >= lo else 0


# ---------------------------------------------------------------------------
# conv2d_grad_input
# ---------------------------------------------------------------------------
cdef void _grad_input_row_direct(const floating* dy, const floating* w, floating* dx, Window* g,
                                 Py_ssize_t row) noexcept nogil:
    """dx[n, ih, :, :] = the sum, over the taps that read it, of dy times the tap: a
    direct loop, for groups too narrow for a matrix product (depthwise)."""
    cdef:
        Py_ssize_t n = row // g.in_h, ih = row % g.in_h
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t kh, kw, oh, ow0, iw0, count, grp, i, c, o, tap
        # Loop bounds in locals: the build has -fno-strict-aliasing, so a bound read
        # through g could change with every store and GCC would not vectorize the loop.
        Py_ssize_t channels = g.in_c
        floating* dx_row = dx + pixel_offset(g, n, ih, 0)
        const floating* dy_px
        const floating* w_tap
        floating* dx_px
        floating acc
    memset(dx_row, 0, g.in_w * g.in_c * sizeof(floating))
    for kh in range(g.k_h):
        if not _tap_row(g, ih, kh, &oh):
            continue
        for kw in range(g.k_w):
            count = _tap_columns(g, kw, &ow0, &iw0)
            tap = kh * g.k_w + kw
            dy_px = dy + ((n * g.out_h + oh) * g.out_w + ow0) * g.out_c
            dx_px = dx_row + iw0 * g.in_c
            w_tap = w + tap * cin_g * g.out_c
            if cin_g == 1 and cout_g == 1:
                # Depthwise: channel c of dx meets channel c of dy and of the kernel.
                for i in range(count):
                    for c in range(channels):
                        dx_px[c] += dy_px[c] * w_tap[c]
                    dy_px += channels
                    dx_px += g.stride_w * channels
            else:
                for i in range(count):
                    for grp in range(g.groups):
                        for c in range(cin_g):
                            acc = 0
                            for o in range(cout_g):
                                acc = acc + (dy_px[grp * cout_g + o]
                                             * w_tap[c * g.out_c + grp * cout_g + o])
                            dx_px[grp * cin_g + c] += acc
                    dy_px += g.out_c
                    dx_px += g.stride_w * g.in_c


cdef inline bint _is_pointwise(const Window* g) noexcept nogil:
    """A 1x1 kernel, unit stride, no padding: input and output pixels correspond one to one."""
    return (g.k_h == 1 and g.k_w == 1 and g.stride_h == 1 and g.stride_w == 1
            and g.pad_top == 0 and g.pad_left == 0
            and g.out_h == g.in_h and g.out_w == g.in_w)


cdef void _grad_input_band(const floating* dy, const floating* w, floating* dx, Window* g,
                           Py_ssize_t n, Py_ssize_t oh0, Py_ssize_t oh1,
                           floating* cols) noexcept nogil:
    """Add the contributions of dy rows [oh0, oh1) of image n into dx (GEMM, then col2im).

    cols = dy_rows @ w_group^T holds, for each dy pixel, its receptive field's gradient
    in the kernel's (kh, kw, c) order; col2im adds each field back where conv2d read it.
    """
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        Py_ssize_t rows = (oh1 - oh0) * g.out_w
        Py_ssize_t grp, r, oh, ow, kh, kw, ih, iw, c
        const floating* dy_rows = dy + (n * g.out_h + oh0) * g.out_w * g.out_c
        const floating* src
        floating* dst
    for grp in range(g.groups):
        if _is_pointwise(g):
            # dx's pixels are dy's: the product lands in place.
            gemm_rowmajor_op(False, True, <int> rows, <int> cin_g, <int> cout_g,
                             dy_rows + grp * cout_g, <int> g.out_c, w + grp * cout_g,
                             <int> g.out_c, 0, dx + pixel_offset(g, n, oh0, 0) + grp * cin_g,
                             <int> g.in_c)
            continue
        gemm_rowmajor_op(False, True, <int> rows, <int> k_len, <int> cout_g,
                         dy_rows + grp * cout_g, <int> g.out_c, w + grp * cout_g,
                         <int> g.out_c, 0, cols, <int> k_len)
        for r in range(rows):
            oh = oh0 + r // g.out_w
            ow = r % g.out_w
            src = cols + r * k_len
            for kh in range(g.k_h):
                ih = input_row(g, oh, kh)
                if not inside(ih, g.in_h):
                    src += g.k_w * cin_g
                    continue
                for kw in range(g.k_w):
                    iw = input_col(g, ow, kw)
                    if inside(iw, g.in_w):
                        dst = dx + pixel_offset(g, n, ih, iw) + grp * cin_g
                        for c in range(cin_g):
                            dst[c] += src[c]
                    src += cin_g


def conv2d_grad_input(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] w,
                      floating[:, :, :, ::1] dx, tuple stride, tuple dilation,
                      tuple pad_top_left, Py_ssize_t groups, bint use_blas,
                      Py_ssize_t band_rows, int n_threads):
    """dx = the adjoint of conv2d(., w) applied to dy, written in place.

    With ``use_blas``, each image's dy rows are cut into bands of ``band_rows``; a band
    is one GEMM and a col2im. Bands b and b + 2 never write the same dx row when
    band_rows * stride_h >= the dilated kernel height (the caller's duty; checked), so
    the even bands run in parallel, then the odd ones. Otherwise (depthwise), a direct
    loop over dx rows. Workspace: one band's columns per thread.
    """
    cdef Window g = make_window(dx.shape, dy.shape, (w.shape[0], w.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, w.shape[2], w.shape[3], dy.shape[3])
    if dx.shape[0] != dy.shape[0] or n_threads < 1:
        raise ValueError("kernel contract: dx and dy batch sizes differ, or n_threads < 1")
    if use_blas and (band_rows < 1 or band_rows * g.stride_h < (g.k_h - 1) * g.dil_h + 1
                     or band_rows * g.out_w * g.k_h * g.k_w * (g.in_c // g.groups) > 2**31 - 1):
        raise ValueError("kernel contract: band_rows must cover the kernel's height and its "
                         "columns fit a BLAS int")
    cdef:
        Py_ssize_t row, item, band, n, phase
        Py_ssize_t k_len = g.k_h * g.k_w * (g.in_c // g.groups)
        Py_ssize_t bands = (g.out_h + band_rows - 1) // band_rows if use_blas else 0
        int team = n_threads
        floating* cols = NULL
        floating* dx_ptr = &dx[0, 0, 0, 0]
        bint pointwise = _is_pointwise(&g)
    if g.batch * g.in_h == 0:
        return
    if not use_blas:
        with nogil:
            for row in prange(g.batch * g.in_h, num_threads=n_threads, schedule="dynamic"):
                _grad_input_row_direct(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, row)
        return
    team = <int> min(<Py_ssize_t> n_threads, max(1, g.batch * ((bands + 1) // 2)))
    if not pointwise:
        cols = <floating*> malloc(team * band_rows * g.out_w * k_len * sizeof(floating))
        if cols == NULL:
            raise MemoryError("conv2d_grad_input: cannot allocate the column workspace")
    try:
        with nogil:
            if not pointwise:
                for row in prange(g.batch * g.in_h, num_threads=team, schedule="static"):
                    memset(dx_ptr + row * g.in_w * g.in_c, 0, g.in_w * g.in_c * sizeof(floating))
            for phase in range(2):
                for item in prange(g.batch * bands, num_threads=team, schedule="dynamic"):
                    band = item % bands
                    if band % 2 != phase:
                        continue
                    n = item // bands
                    _grad_input_band(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, n,
                                     band * band_rows, min((band + 1) * band_rows, g.out_h),
                                     cols + threadid() * band_rows * g.out_w * k_len
                                     if cols != NULL else NULL)
    finally:
        free(cols)


# ---------------------------------------------------------------------------
# conv2d_grad_weight
# ---------------------------------------------------------------------------
cdef void _weight_sum_blas(const floating* x, const floating* dy, floating* acc, Window* g,
                           Py_ssize_t first_row, Py_ssize_t end_row, Py_ssize_t rows_per_tile,
                           floating* patches) noexcept nogil:
    """acc = sum over output pixels [first_row, end_row) of field^T dy, tile by tile."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        Py_ssize_t first, n_rows, grp
        floating beta = 0   # the first tile overwrites: acc needs no zeroing
        bint pointwise = _is_pointwise(g)
    first = first_row
    while first < end_row:
        n_rows = min(rows_per_tile, end_row - first)
        for grp in range(g.groups):
            if pointwise:
                # A 1x1 kernel reads each pixel once, in output order: x is the patch matrix.
                gemm_rowmajor_op(True, False, <int> cin_g, <int> cout_g, <int> n_rows,
                                 x + first * g.in_c + grp * cin_g, <int> g.in_c,
                                 dy + first * g.out_c + grp * cout_g, <int> g.out_c,
                                 beta, acc + grp * cout_g, <int> g.out_c)
            else:
                pack_patches(x, g, first, n_rows, grp, patches)
                gemm_rowmajor_op(True, False, <int> k_len, <int> cout_g, <int> n_rows,
                                 patches, <int> k_len,
                                 dy + first * g.out_c + grp * cout_g, <int> g.out_c,
                                 beta, acc + grp * cout_g, <int> g.out_c)
        beta = 1
        first += n_rows


cdef void _weight_sum_direct(const floating* x, const floating* dy, floating* acc, Window* g,
                             Py_ssize_t first_row, Py_ssize_t end_row) noexcept nogil:
    """acc = sum over output pixels [first_row, end_row) of field^T dy, pixel by pixel."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t plane = g.out_h * g.out_w
        Py_ssize_t m, n, oh, ow, kh, kw, ih, iw, grp, c, o, ch
        Py_ssize_t channels = g.out_c   # a local bound, so that the loop vectorizes
        const floating* x_px
        const floating* dy_px
        floating* acc_tap
        floating xv
    memset(acc, 0, g.k_h * g.k_w * cin_g * g.out_c * sizeof(floating))
    for m in range(first_row, end_row):
        n = m // plane
        oh = (m % plane) // g.out_w
        ow = m % g.out_w
        dy_px = dy + m * g.out_c
        for kh in range(g.k_h):
            ih = input_row(g, oh, kh)
            if not inside(ih, g.in_h):
                continue
            for kw in range(g.k_w):
                iw = input_col(g, ow, kw)
                if not inside(iw, g.in_w):
                    continue
                x_px = x + pixel_offset(g, n, ih, iw)
                acc_tap = acc + (kh * g.k_w + kw) * cin_g * g.out_c
                if cin_g == 1 and cout_g == 1:
                    for ch in range(channels):
                        acc_tap[ch] += x_px[ch] * dy_px[ch]
                else:
                    for grp in range(g.groups):
                        for c in range(cin_g):
                            xv = x_px[grp * cin_g + c]
                            for o in range(cout_g):
                                acc_tap[c * channels + grp * cout_g + o] += (
                                    xv * dy_px[grp * cout_g + o])


def conv2d_grad_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                       floating[:, :, :, ::1] dw, tuple stride, tuple dilation,
                       tuple pad_top_left, Py_ssize_t groups, bint use_blas,
                       Py_ssize_t rows_per_tile, Py_ssize_t n_chunks, int n_threads):
    """dw = the adjoint of conv2d(x, .) applied to dy, written in place.

    The N*OH*OW output pixels are cut into tiles of ``rows_per_tile`` and the tiles
    into ``n_chunks`` consecutive chunks; the result depends on those two numbers and
    not on ``n_threads``. Workspace: (n_chunks - 1) partial sums, plus one tile of
    patches per thread on the BLAS path.
    """
    cdef Window g = make_window(x.shape, dy.shape, (dw.shape[0], dw.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, dw.shape[2], dw.shape[3], dy.shape[3])
    if x.shape[0] != dy.shape[0] or n_threads < 1 or n_chunks < 1:
        raise ValueError("kernel contract: x and dy batch sizes differ, or n_threads or "
                         "n_chunks < 1")
    if rows_per_tile < 1 or rows_per_tile > 2**31 - 1:
        raise ValueError("kernel contract: rows_per_tile must fit a BLAS int")
    cdef:
        Py_ssize_t total_rows = g.batch * g.out_h * g.out_w
        Py_ssize_t w_size = dw.shape[0] * dw.shape[1] * dw.shape[2] * dw.shape[3]
        Py_ssize_t k_len = g.k_h * g.k_w * (g.in_c // g.groups)
        Py_ssize_t n_tiles = (total_rows + rows_per_tile - 1) // rows_per_tile
        Py_ssize_t chunk, first_tile, end_tile, i, j
        int team
        floating* partial = NULL
        floating* patches = NULL
        floating* acc
        floating* out = &dw[0, 0, 0, 0]
    if total_rows == 0:
        memset(out, 0, w_size * sizeof(floating))
        return
    n_chunks = min(n_chunks, n_tiles)
    team = <int> min(<Py_ssize_t> n_threads, n_chunks)
    try:
        if n_chunks > 1:
            partial = <floating*> malloc((n_chunks - 1) * w_size * sizeof(floating))
            if partial == NULL:
                raise MemoryError("conv2d_grad_weight: cannot allocate the partial sums")
        if use_blas:
            patches = <floating*> malloc(team * rows_per_tile * k_len * sizeof(floating))
            if patches == NULL:
                raise MemoryError("conv2d_grad_weight: cannot allocate the patch tiles")
        with nogil:
            for chunk in prange(n_chunks, num_threads=team, schedule="dynamic"):
                first_tile = chunk * n_tiles // n_chunks
                end_tile = (chunk + 1) * n_tiles // n_chunks
                acc = out if chunk == 0 else partial + (chunk - 1) * w_size
                if use_blas:
                    _weight_sum_blas(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], acc, &g,
                                     first_tile * rows_per_tile,
                                     min(end_tile * rows_per_tile, total_rows), rows_per_tile,
                                     patches + threadid() * rows_per_tile * k_len)
                else:
                    _weight_sum_direct(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], acc, &g,
                                       first_tile * rows_per_tile,
                                       min(end_tile * rows_per_tile, total_rows))
            # The fixed-order reduction: chunk 1, then 2, ... into chunk 0's sum.
            for i in prange(w_size, num_threads=team, schedule="static"):
                for j in range(n_chunks - 1):
                    out[i] = out[i] + partial[j * w_size + i]
    finally:
        free(partial)
        free(patches)


# ---------------------------------------------------------------------------
# Pooling gradients
# ---------------------------------------------------------------------------


cdef inline void _clip(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t size,
                       Py_ssize_t extent, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The window's real pixels along one axis: [lo, hi)."""
    cdef Py_ssize_t start = o * stride - pad
    lo[0] = start if start > 0 else 0
    hi[0] = start + size if start + size < extent else extent


cdef void _pool_grad_item(const floating* x, const floating* dy, floating* dx, Window* g,
                          Py_ssize_t item, Py_ssize_t n_blocks, bint take_max) noexcept nogil:
    """dx[n, :, :, c0:c1] for one (image, channel block) work item."""
    cdef:
        Py_ssize_t n = item // n_blocks
        Py_ssize_t c0 = (item % n_blocks) * GRAD_BLOCK
        Py_ssize_t width = min(<Py_ssize_t> GRAD_BLOCK, g.in_c - c0)
        Py_ssize_t ih, iw, oh, ow, h0, h1, w0, w1, j, offset, at
        Py_ssize_t best_at[GRAD_BLOCK]
        floating best[GRAD_BLOCK]
        floating v, scale
        bint take
        const floating* dy_px
        const floating* x_image = x + pixel_offset(g, n, 0, 0) + c0
        floating* dx_image = dx + pixel_offset(g, n, 0, 0) + c0
    if width == g.in_c:   # the item owns every channel: one contiguous image
        memset(dx_image, 0, g.in_h * g.in_w * g.in_c * sizeof(floating))
    else:
        for ih in range(g.in_h):
            for iw in range(g.in_w):
                memset(dx_image + pixel_offset(g, 0, ih, iw), 0, width * sizeof(floating))
    for oh in range(g.out_h):
        _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
        for ow in range(g.out_w):
            _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
            dy_px = dy + ((n * g.out_h + oh) * g.out_w + ow) * g.in_c + c0
            if take_max:
                at = pixel_offset(g, 0, h0, w0)
                for j in range(width):
                    best[j] = x_image[at + j]
                    best_at[j] = at
                # The first maximum in row-major order wins: only a strictly greater
                # value replaces it, and a NaN replaces a number but not an earlier NaN.
                # Selects, not branches, so that the channel loop vectorizes.
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        at = pixel_offset(g, 0, ih, iw)
                        for j in range(width):
                            v = x_image[at + j]
                            take = (v > best[j]) | ((v != v) & (best[j] == best[j]))
                            best[j] = v if take else best[j]
                            best_at[j] = at if take else best_at[j]
                for j in range(width):
                    dx_image[best_at[j] + j] += dy_px[j]
            else:
                # The forward pass computes scale * sum over the real pixels, so each
                # real pixel's gradient is scale * dy.
                scale = 1.0 / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        offset = pixel_offset(g, 0, ih, iw)
                        for j in range(width):
                            dx_image[offset + j] += dy_px[j] * scale


cdef int _pool_grad(const floating* x, const floating[:, :, :, ::1] dy,
                    floating[:, :, :, ::1] dx, tuple pool_size, tuple stride,
                    tuple pad_top_left, int n_threads, bint take_max) except -1:
    cdef Window g = make_window(dx.shape, dy.shape, pool_size, stride, (1, 1), pad_top_left, 1)
    check_pool_contract(&g)
    if dx.shape[0] != dy.shape[0] or n_threads < 1:
        raise ValueError("kernel contract: dx and dy batch sizes differ, or n_threads < 1")
    cdef Py_ssize_t n_blocks = (g.in_c + GRAD_BLOCK - 1) // GRAD_BLOCK
    cdef Py_ssize_t item
    if g.batch * n_blocks == 0:
        return 0
    with nogil:
        for item in prange(g.batch * n_blocks, num_threads=n_threads, schedule="dynamic"):
            _pool_grad_item(x, &dy[0, 0, 0, 0], &dx[0, 0, 0, 0], &g, item, n_blocks, take_max)
    return 0


def max_pool2d_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                    floating[:, :, :, ::1] dx, tuple pool_size, tuple stride,
                    tuple pad_top_left, int n_threads):
    """dx = each window's dy sent to its first maximum (NaN counts as the maximum)."""
    if (x.shape[0] != dx.shape[0] or x.shape[1] != dx.shape[1] or x.shape[2] != dx.shape[2]
            or x.shape[3] != dx.shape[3]):
        raise ValueError("kernel contract: x and dx shapes differ")
    if x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3] == 0:
        return
    _pool_grad(&x[0, 0, 0, 0], dy, dx, pool_size, stride, pad_top_left, n_threads, True)


def avg_pool2d_grad(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                    tuple pool_size, tuple stride, tuple pad_top_left, int n_threads):
    """dx = each window's dy shared equally among its real pixels."""
    if dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3] == 0:
        return
    _pool_grad(&dx[0, 0, 0, 0], dy, dx, pool_size, stride, pad_top_left, n_threads, False)
