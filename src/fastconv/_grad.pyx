"""Gradients of conv2d and of the pools: compute only, on data the caller prepared.

conv2d_grad_input is a GEMM followed by col2im, band by band: a band of dy rows
times the kernel (transposed) gives each dy pixel's receptive-field gradient, which
is added back where conv2d read it. No zeros are inserted. With at least an image per
thread, each thread takes whole images; otherwise bands far enough apart never touch
the same dx row, so the even bands run in parallel, then the odd ones. Either way an
image's even bands add first, so the bits do not depend on the path.
Depthwise layers go by dx rows instead: for one dx row, a kernel row kh meets a dy
row only when ih + pad_top - kh*dh is a multiple of the stride, and a kernel column
meets one stride phase of the row's columns, which read consecutive dy pixels.

conv2d_grad_weight is a sum over output pixels of outer products: per kernel tap, x's
channels times dy's, or for narrow inputs the receptive fields (packed as im2col packs
them) times dy's. fastconv_outer.h's micro-kernels keep a block of the sum in registers
over a run of pixels; depthwise layers multiply channel by channel. The output rows are
cut into chunks whose number the caller fixes independently of the thread count; each
chunk sums its rows in order into its own partial sum, and the partial sums are added
in chunk order. The result is therefore the same bits on any number of threads.

Depthwise layers' input gradient has no matrix product worth a BLAS call: it runs a
direct loop over channels.

Pooling gradients own (image, part of the channels) pairs (_plan.pool_grad_plan), so
windows that overlap add up without two threads touching one value.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

cdef extern from "fastconv_config.h" nogil:
    void* fc_aligned_alloc(size_t bytes)
    void fc_aligned_free(void* p)
    void fc_prefetch(const void* p)

from fastconv._blas cimport gemm_rowmajor_op
from fastconv._patches cimport pack_patches
from fastconv._geometry cimport (Window, check_conv_contract, check_pool_contract, input_col,
                                 input_row, inside, make_window, pixel_offset)


cdef enum:
    # Values each thread's part of an aligned workspace (fc_aligned_alloc) is rounded up
    # to, so that every part starts on a cache line (64 bytes of floats, 128 of doubles).
    PART_ALIGN = 16


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
cdef extern from "fastconv_outer.h" nogil:
    void depthwise_gather_f32 "fc_depthwise_gather_f32"(
        Py_ssize_t taps, const Py_ssize_t* dy_offsets, const Py_ssize_t* w_offsets,
        Py_ssize_t n, const float* dy, Py_ssize_t dy_col, const float* w, Py_ssize_t cols,
        float* dx, Py_ssize_t dx_col, int accumulate)
    void depthwise_gather_f64 "fc_depthwise_gather_f64"(
        Py_ssize_t taps, const Py_ssize_t* dy_offsets, const Py_ssize_t* w_offsets,
        Py_ssize_t n, const double* dy, Py_ssize_t dy_col, const double* w, Py_ssize_t cols,
        double* dx, Py_ssize_t dx_col, int accumulate)


cdef inline void _depthwise_gather(Py_ssize_t taps, const Py_ssize_t* dy_offsets,
                                   const Py_ssize_t* w_offsets, Py_ssize_t n,
                                   const floating* dy, Py_ssize_t dy_col, const floating* w,
                                   Py_ssize_t cols, floating* dx,
                                   Py_ssize_t dx_col) noexcept nogil:
    if floating is float:
        depthwise_gather_f32(taps, dy_offsets, w_offsets, n, dy, dy_col, w, cols, dx, dx_col, 0)
    else:
        depthwise_gather_f64(taps, dy_offsets, w_offsets, n, dy, dy_col, w, cols, dx, dx_col, 0)


cdef enum:
    GATHER_MAX_TAPS = 256   # taps _grad_input_row_gather's stack tables hold


cdef void _grad_input_row_gather(const floating* dy, const floating* w, floating* sums,
                                 Window* g, Py_ssize_t n, Py_ssize_t ih) noexcept nogil:
    """Row (n, ih) of a depthwise layer's input gradient, with dy's channels (``sums``
    holds the row's in_w pixels of out_c values): each class of columns iw equal modulo
    the stride shares its taps, so its middle columns are one run of
    fc_depthwise_gather (each sum in a register over the taps, in kernel order), and the
    columns where some of those taps fall outside dy go one at a time with the taps
    that do not."""
    cdef:
        Py_ssize_t dy_off[GATHER_MAX_TAPS]
        Py_ssize_t w_off[GATHER_MAX_TAPS]
        Py_ssize_t first[GATHER_MAX_TAPS]
        Py_ssize_t end[GATHER_MAX_TAPS]
        Py_ssize_t sub_dy[GATHER_MAX_TAPS]
        Py_ssize_t sub_w[GATHER_MAX_TAPS]
        Py_ssize_t C = g.out_c, r, cols, nt, n_sub, kh, kw, oh, num, ow0, k, k_lo, k_hi, t
    for r in range(min(g.stride_w, g.in_w)):
        cols = (g.in_w - r + g.stride_w - 1) // g.stride_w   # columns r, r + stride_w, ...
        nt = 0
        k_lo, k_hi = 0, cols
        for kh in range(g.k_h):
            if not _tap_row(g, ih, kh, &oh):
                continue
            for kw in range(g.k_w):
                num = r + g.pad_left - kw * g.dil_w
                ow0 = _floor_div(num, g.stride_w)
                if ow0 * g.stride_w != num:
                    continue
                # Column k of the class reads dy column ow0 + k.
                first[nt] = max(<Py_ssize_t> 0, -ow0)
                end[nt] = min(cols, g.out_w - ow0)
                if end[nt] <= first[nt]:
                    continue
                dy_off[nt] = ((n * g.out_h + oh) * g.out_w + ow0) * C
                w_off[nt] = (kh * g.k_w + kw) * C
                k_lo, k_hi = max(k_lo, first[nt]), min(k_hi, end[nt])
                nt += 1
        if k_hi < k_lo:
            k_hi = k_lo
        if k_hi > k_lo:
            _depthwise_gather(nt, dy_off, w_off, C, dy + k_lo * C, C, w, k_hi - k_lo,
                              sums + (r + k_lo * g.stride_w) * C, g.stride_w * C)
        for k in range(cols):
            if k_lo <= k < k_hi:
                continue
            n_sub = 0
            for t in range(nt):
                if first[t] <= k < end[t]:
                    sub_dy[n_sub], sub_w[n_sub] = dy_off[t], w_off[t]
                    n_sub += 1
            _depthwise_gather(n_sub, sub_dy, sub_w, C, dy + k * C, C, w, 1,
                              sums + (r + k * g.stride_w) * C, g.stride_w * C)


cdef void _grad_input_row_direct(const floating* dy, const floating* w, floating* dx, Window* g,
                                 Py_ssize_t row, floating* spread) noexcept nogil:
    """dx[n, ih, :, :] = the sum, over the taps that read it, of dy times the tap: a
    direct loop, for groups too narrow for a matrix product (depthwise).

    With one input channel per group and several outputs (a channel multiplier), the
    products go to ``spread``, one row of dx's pixels with dy's channels, and each
    group's outputs are added up at the end: the tap loop is then depthwise's, vectorised
    over dy's channels, where a loop over each pixel's groups was not. One input channel
    per group runs through _grad_input_row_gather, the rest tap by tap."""
    cdef:
        Py_ssize_t n = row // g.in_h, ih = row % g.in_h
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t c, o, iw
        Py_ssize_t in_channels = g.in_c, width = g.in_w
        bint spread_out = cin_g == 1 and cout_g > 1
        floating* dx_row = dx + pixel_offset(g, n, ih, 0)
        floating* sums = spread if spread_out else dx_row
        floating acc
    if cin_g == 1 and g.k_h * g.k_w <= GATHER_MAX_TAPS:
        _grad_input_row_gather(dy, w, sums, g, n, ih)
    else:
        _grad_input_row_taps(dy, w, sums, dx_row, g, n, ih)
    if spread_out:
        for iw in range(width):
            for c in range(in_channels):
                acc = 0
                for o in range(cout_g):
                    acc = acc + sums[(iw * in_channels + c) * cout_g + o]
                dx_row[iw * in_channels + c] = acc


cdef void _grad_input_row_taps(const floating* dy, const floating* w, floating* sums,
                               floating* dx_row, Window* g, Py_ssize_t n,
                               Py_ssize_t ih) noexcept nogil:
    """_grad_input_row_direct tap by tap, each tap adding into the row: the depthwise
    sums (with dy's channels) when cin_g == 1, else dx's row itself."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t kh, kw, oh, ow0, iw0, count, grp, i, c, o, tap
        # Loop bounds in locals: the build has -fno-strict-aliasing, so a bound read
        # through g could change with every store and GCC would not vectorize the loop.
        Py_ssize_t channels = g.out_c
        const floating* dy_px
        const floating* w_tap
        floating* dx_px
        floating acc
    memset(sums, 0, g.in_w * (g.out_c if cin_g == 1 else g.in_c) * sizeof(floating))
    for kh in range(g.k_h):
        if not _tap_row(g, ih, kh, &oh):
            continue
        for kw in range(g.k_w):
            count = _tap_columns(g, kw, &ow0, &iw0)
            tap = kh * g.k_w + kw
            dy_px = dy + ((n * g.out_h + oh) * g.out_w + ow0) * g.out_c
            w_tap = w + tap * cin_g * g.out_c
            if cin_g == 1:
                # Channel o of dy meets channel o of the kernel, and adds to the sum of
                # its group (dx's channel itself without a multiplier).
                dx_px = sums + iw0 * channels
                for i in range(count):
                    for o in range(channels):
                        dx_px[o] += dy_px[o] * w_tap[o]
                    dy_px += channels
                    dx_px += g.stride_w * channels
            else:
                dx_px = dx_row + iw0 * g.in_c
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
                           Py_ssize_t n0, Py_ssize_t images, Py_ssize_t oh0, Py_ssize_t oh1,
                           floating* cols) noexcept nogil:
    """Add the contributions of dy rows [oh0, oh1) of images n0 .. n0 + images - 1 into dx
    (GEMM, then col2im); several images only as whole ones (oh0 = 0, oh1 = out_h), whose
    dy rows follow each other in memory.

    cols = dy_rows @ w_group^T holds, for each dy pixel, its receptive field's gradient
    in the kernel's (kh, kw, c) order; col2im adds each field back where conv2d read it.
    """
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        Py_ssize_t rows = images * (oh1 - oh0) * g.out_w
        Py_ssize_t grp, n, oh, ow, kh, kw, ih, iw, c
        const floating* dy_rows = dy + (n0 * g.out_h + oh0) * g.out_w * g.out_c
        const floating* src
        floating* dst
    for grp in range(g.groups):
        if _is_pointwise(g):
            # dx's pixels are dy's: the product lands in place.
            gemm_rowmajor_op(False, True, <int> rows, <int> cin_g, <int> cout_g,
                             dy_rows + grp * cout_g, <int> g.out_c, w + grp * cout_g,
                             <int> g.out_c, 0, dx + pixel_offset(g, n0, oh0, 0) + grp * cin_g,
                             <int> g.in_c)
            continue
        gemm_rowmajor_op(False, True, <int> rows, <int> k_len, <int> cout_g,
                         dy_rows + grp * cout_g, <int> g.out_c, w + grp * cout_g,
                         <int> g.out_c, 0, cols, <int> k_len)
        # The columns' rows in order: each holds k_len values, (kh, kw, c).
        src = cols
        for n in range(n0, n0 + images):
            for oh in range(oh0, oh1):
                for ow in range(g.out_w):
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
                      Py_ssize_t band_rows, int n_threads, Py_ssize_t images_per_band=1):
    """dx = the adjoint of conv2d(., w) applied to dy, written in place.

    With ``use_blas``, each image's dy rows are cut into bands of ``band_rows``; a band
    is one GEMM and a col2im. Bands b and b + 2 never write the same dx row when
    band_rows * stride_h >= the dilated kernel height (the caller's duty; checked), so
    the even bands run in parallel, then the odd ones. When a band is a whole image,
    ``images_per_band`` images go through one GEMM: BLAS packs the kernel once per call,
    which on small maps (7x7 dy, a 9 MiB kernel) cost as much as the product. Otherwise
    (depthwise), a direct loop over dx rows. Workspace: one band's columns per thread
    (one row of dx's pixels with dy's channels for the direct loop of a depthwise
    channel multiplier).
    """
    cdef Window g = make_window(dx.shape, dy.shape, (w.shape[0], w.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, w.shape[2], w.shape[3], dy.shape[3])
    if dx.shape[0] != dy.shape[0] or n_threads < 1:
        raise ValueError("kernel contract: dx and dy batch sizes differ, or n_threads < 1")
    if use_blas and (band_rows < 1 or band_rows * g.stride_h < (g.k_h - 1) * g.dil_h + 1
                     or images_per_band < 1
                     or (images_per_band > 1 and band_rows < g.out_h)
                     or images_per_band * band_rows * g.out_w * g.k_h * g.k_w
                     * (g.in_c // g.groups) > 2**31 - 1):
        raise ValueError("kernel contract: band_rows must cover the kernel's height, several "
                         "images to a band need whole images, and the columns must fit a "
                         "BLAS int")
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
    cdef floating* spread = NULL
    cdef Py_ssize_t spread_size = _round_up(g.in_w * g.out_c, PART_ALIGN)
    if not use_blas:
        if w.shape[2] == 1 and w.shape[3] > g.groups:
            spread = <floating*> fc_aligned_alloc(n_threads * spread_size * sizeof(floating))
            if spread == NULL:
                raise MemoryError("conv2d_grad_input: cannot allocate the row workspace")
        try:
            with nogil:
                for row in prange(g.batch * g.in_h, num_threads=n_threads, schedule="dynamic"):
                    _grad_input_row_direct(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, row,
                                           spread + threadid() * spread_size
                                           if spread != NULL else NULL)
        finally:
            fc_aligned_free(spread)
        return
    images_per_band = min(images_per_band, g.batch) if bands == 1 else 1
    cdef Py_ssize_t image_groups = (g.batch + images_per_band - 1) // images_per_band
    cdef Py_ssize_t band_size = images_per_band * band_rows * g.out_w * k_len
    team = <int> min(<Py_ssize_t> n_threads, max(1, image_groups * ((bands + 1) // 2)))
    if not pointwise:
        cols = <floating*> malloc(team * band_size * sizeof(floating))
        if cols == NULL:
            raise MemoryError("conv2d_grad_input: cannot allocate the column workspace")
    try:
        with nogil:
            if images_per_band > 1:
                # Whole images, several to a GEMM: their dx is zeroed just before.
                for item in prange(image_groups, num_threads=team, schedule="dynamic"):
                    n = item * images_per_band
                    if not pointwise:
                        memset(dx_ptr + n * g.in_h * g.in_w * g.in_c, 0,
                               min(images_per_band, g.batch - n) * g.in_h * g.in_w * g.in_c
                               * sizeof(floating))
                    _grad_input_band(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, n,
                                     min(images_per_band, g.batch - n), 0, g.out_h,
                                     cols + threadid() * band_size if cols != NULL else NULL)
            elif g.batch >= team:
                # An image per thread: its dx is zeroed just before its bands add to it
                # (in cache), and no barrier parts the even bands from the odd ones. The
                # bands still go even ones first, so the sums are the phases' bits.
                for n in prange(g.batch, num_threads=team, schedule="dynamic"):
                    if not pointwise:
                        memset(dx_ptr + n * g.in_h * g.in_w * g.in_c, 0,
                               g.in_h * g.in_w * g.in_c * sizeof(floating))
                    for item in range(bands):
                        band = 2 * item if 2 * item < bands else 2 * (item - (bands + 1) // 2) + 1
                        _grad_input_band(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, n, 1,
                                         band * band_rows, min((band + 1) * band_rows, g.out_h),
                                         cols + threadid() * band_size
                                         if cols != NULL else NULL)
            else:
                if not pointwise:
                    for row in prange(g.batch * g.in_h, num_threads=team, schedule="static"):
                        memset(dx_ptr + row * g.in_w * g.in_c, 0,
                               g.in_w * g.in_c * sizeof(floating))
                for phase in range(2):
                    for item in prange(g.batch * bands, num_threads=team, schedule="dynamic"):
                        band = item % bands
                        if band % 2 != phase:
                            continue
                        n = item // bands
                        _grad_input_band(&dy[0, 0, 0, 0], &w[0, 0, 0, 0], dx_ptr, &g, n, 1,
                                         band * band_rows, min((band + 1) * band_rows, g.out_h),
                                         cols + threadid() * band_size
                                         if cols != NULL else NULL)
    finally:
        free(cols)


# ---------------------------------------------------------------------------
# conv2d_grad_input by stride phases, on conv2d's register blocks
# ---------------------------------------------------------------------------
cdef extern from "fastconv_microkernel.h" nogil:
    enum:
        COUT_BLOCK_F32 "FC_COUT_BLOCK_F32"
        COUT_BLOCK_F64 "FC_COUT_BLOCK_F64"
        WIDE_PIX_BLOCK "FC_WIDE_PIXELS"
    void taps_wide_f32 "fc_taps_wide_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_wide_f64 "fc_taps_wide_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_narrow_f32 "fc_taps_narrow_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_narrow_f64 "fc_taps_narrow_f64"(const double** x_pixels,
        const Py_ssize_t* offsets, Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)


cdef enum:
    PHASE_NARROW_PIXELS = 8     # the narrow block's pixels (fastconv_microkernel.h)
    PHASE_MAX_PIXELS = 16       # bounds both blocks' pixels
    # The packed kernel's rows a slice holds, in bytes: streamed from L2 as conv2d's
    # AVX-512 blocks stream theirs. On 9 U-Net / DCGAN transposes (2 threads, one
    # process, against PyTorch) 128 KiB ran 0-15% faster than 24 KiB slices kept in L1,
    # which reload every block's sums 5 times as often; 256 and 512 KiB matched 128.
    PHASE_SLICE_BYTES = 128 << 10
    # A work item's rows of one row phase: at least PHASE_BAND_PIXELS pixels of a column
    # phase (so that each slice of the kernel serves several blocks, a 7-pixel row does
    # not leave most of a block idle, and a band's copy of dy repeats few rows), at most
    # PHASE_MAX_BAND rows. On 12 U-Net / DCGAN / ResNet transposes (2 threads, one
    # process, against PyTorch), 192 ran 0-10% faster than 96 pixels, and than rows of
    # more than 32 pixels one at a time (where the copy of dy took 11% of U-Net's 3x3s2
    # 64->32); 384 measured as 192.
    PHASE_BAND_PIXELS = 192
    PHASE_MAX_BAND = 16
    PACK_TILE = 16              # dy channels a tile of the packed kernel reads at once


# Channels the phase kernel's dx must come in multiples of: half a register block.
PHASE_CHANNELS_F32 = COUT_BLOCK_F32 // 2
PHASE_CHANNELS_F64 = COUT_BLOCK_F64 // 2


cdef struct AxisPhases:
    # Along one axis of dx, phase r holds positions r, r + stride, ...: count[r] of them,
    # read by taps[r * k + j] (j < n_taps[r], ascending), tap j of position r + stride * i
    # reading dy at base[r * k + j] + i.
    Py_ssize_t stride, k
    Py_ssize_t* count
    Py_ssize_t* n_taps
    Py_ssize_t* taps
    Py_ssize_t* base


cdef int _axis_phases(AxisPhases* a, Py_ssize_t size, Py_ssize_t k, Py_ssize_t stride,
                      Py_ssize_t dilation, Py_ssize_t pad) except -1:
    """Fill ``a`` for an axis of ``size`` dx positions (see AxisPhases)."""
    cdef Py_ssize_t r, t, num, j
    a.stride, a.k = stride, k
    a.count = <Py_ssize_t*> malloc(stride * (2 + 2 * k) * sizeof(Py_ssize_t))
    if a.count == NULL:
        raise MemoryError("conv2d_grad_input: cannot allocate the phase tables")
    a.n_taps = a.count + stride
    a.taps = a.n_taps + stride
    a.base = a.taps + stride * k
    for r in range(stride):
        a.count[r] = (size - r + stride - 1) // stride if r < size else 0
        j = 0
        for t in range(k):
            num = r + pad - t * dilation
            if _floor_div(num, stride) * stride == num:
                a.taps[r * k + j] = t
                a.base[r * k + j] = _floor_div(num, stride)
                j += 1
        a.n_taps[r] = j
    return 0


cdef inline void _phase_block(bint wide, const floating** x_pixels, const Py_ssize_t* offsets,
                              Py_ssize_t n_taps, const floating* w, Py_ssize_t w_stride,
                              const floating* init, Py_ssize_t init_stride, floating* out,
                              Py_ssize_t out_stride) noexcept nogil:
    """The tap micro-kernel of the phase kernel's wide or narrow block."""
    if floating is float:
        if wide:
            taps_wide_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    else:
        if wide:
            taps_wide_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)


cdef inline bint _channel_block(Py_ssize_t channels_left, Py_ssize_t cout_block,
                                Py_ssize_t itemsize, Py_ssize_t* nr, Py_ssize_t* mr,
                                Py_ssize_t* slice_rows) noexcept nogil:
    """The register block for the dx channels left: wide (cout_block channels) while one
    fits, else narrow (half of them); its pixels, and the kernel rows of a slice. True
    for a wide block."""
    cdef bint wide = channels_left >= cout_block
    nr[0] = cout_block if wide else cout_block // 2
    mr[0] = WIDE_PIX_BLOCK if wide else PHASE_NARROW_PIXELS
    slice_rows[0] = max(<Py_ssize_t> 1, PHASE_SLICE_BYTES // (nr[0] * itemsize))
    return wide


cdef struct PaddedBand:
    # A band's dy rows copied with zero borders (_padded_band), so that every tap of
    # every block reads inside the copy: at most `rows` rows of `pitch` pixels, dy column
    # 0 at pixel `left` of each.
    Py_ssize_t rows, pitch, left


cdef void _padded_band(const floating* dy, const Window* g, const PaddedBand* pad,
                       Py_ssize_t n, Py_ssize_t oh_lo, Py_ssize_t n_rows,
                       floating* band) noexcept nogil:
    """Copy dy rows [oh_lo, oh_lo + n_rows) of image n into ``band`` (see PaddedBand),
    rows outside dy as zeros."""
    cdef Py_ssize_t j, oh, Cy = g.out_c
    cdef floating* dst
    for j in range(n_rows):
        oh = oh_lo + j
        dst = band + j * pad.pitch * Cy
        if 0 <= oh < g.out_h:
            memset(dst, 0, pad.left * Cy * sizeof(floating))
            memcpy(dst + pad.left * Cy, dy + (n * g.out_h + oh) * g.out_w * Cy,
                   g.out_w * Cy * sizeof(floating))
            memset(dst + (pad.left + g.out_w) * Cy, 0,
                   (pad.pitch - pad.left - g.out_w) * Cy * sizeof(floating))
        else:
            memset(dst, 0, pad.pitch * Cy * sizeof(floating))


cdef inline void _copy_block_row(floating* dst, const floating* src, bint wide) noexcept nogil:
    """Copy a register block's row of channels (wide: COUT_BLOCK, else half). The sizes
    are constants, so the copy is a few vector moves: a memcpy of a run-time size became
    `rep movsq`, which took 8% of a DCGAN layer's time."""
    if floating is float:
        if wide:
            memcpy(dst, src, COUT_BLOCK_F32 * sizeof(float))
        else:
            memcpy(dst, src, COUT_BLOCK_F32 // 2 * sizeof(float))
    else:
        if wide:
            memcpy(dst, src, COUT_BLOCK_F64 * sizeof(double))
        else:
            memcpy(dst, src, COUT_BLOCK_F64 // 2 * sizeof(double))


cdef void _phase_band(const floating* dy, const floating* packed, const Py_ssize_t* tables,
                      const Py_ssize_t* phase_start, const floating* bias,
                      const floating* zeros, floating* dx, Window* g, AxisPhases* rows,
                      AxisPhases* cols, const PaddedBand* pad, Py_ssize_t n, Py_ssize_t pr,
                      Py_ssize_t i0, Py_ssize_t i1, floating* sums,
                      floating* band) noexcept nogil:
    """dx rows pr + stride_h * i of image n, for i in [i0, i1) (one row phase), = bias +
    their stride phases' taps of dy.

    The rows' dy rows are first copied with zero borders into ``band`` (_padded_band), so
    that every tap of every block reads inside the copy (``tables`` address it). Then,
    for each column phase and block of dx channels, the packed kernel goes in slices,
    each over all the band's register blocks: MR consecutive pixels of the phase, row
    after row, so that a block may cross from one row to the next (a row of 7 pixels
    does not leave most of a 6-pixel block idle). A whole block within one row sums in
    place in dx, its pixels stride_w apart; the others (crossing a row, or past the
    band's end) keep their sums in ``sums`` (pixel q at q * nr) until the last slice.
    Every sum adds its taps in the packed order, whatever the slicing."""
    cdef:
        Py_ssize_t Cy = g.out_c, Cx = g.in_c, COUT_BLOCK
        Py_ssize_t tr = rows.n_taps[pr], i, k, pc, tc, kp, co, nr, mr, slice_rows
        Py_ssize_t t0, t1, t_end, p, q, q0, n_pixels, phase, step, out_stride
        bint wide, first, in_place
        const Py_ssize_t* rbase = rows.base + pr * rows.k
        const Py_ssize_t* cbase
        const floating* w_phase
        const floating* init
        const floating* band_first
        floating* out
        const floating* x_pixels[PHASE_MAX_PIXELS]
    COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
    step = cols.stride * Cx
    if tr:
        # dy rows rbase[tr - 1] + i0 (the last tap of the band's first row) to
        # rbase[0] + i1 - 1 (the first tap of its last).
        _padded_band(dy, g, pad, n, rbase[tr - 1] + i0, i1 - i0 + rbase[0] - rbase[tr - 1],
                     band)
    for pc in range(cols.stride):
        kp = cols.count[pc]
        tc = cols.n_taps[pc]
        n_pixels = (i1 - i0) * kp
        if n_pixels == 0:
            continue
        phase = pr * cols.stride + pc
        cbase = cols.base + pc * cols.k
        w_phase = packed + phase_start[phase] * Cx
        t_end = tr * tc * Cy
        band_first = band
        if t_end:
            # Phase pixel (i0, 0)'s first tap.
            band_first += ((rbase[0] - rbase[tr - 1]) * pad.pitch + cbase[0] + pad.left) * Cy
        co = 0
        while co < Cx:
            wide = _channel_block(Cx - co, COUT_BLOCK, sizeof(floating), &nr, &mr, &slice_rows)
            init = bias + co if bias != NULL else zeros
            if t_end == 0:
                for q in range(n_pixels):
                    i, k = i0 + q // kp, q % kp
                    _copy_block_row(dx + pixel_offset(g, n, pr + rows.stride * i,
                                                      pc + cols.stride * k) + co, init, wide)
            t0 = 0
            while t0 < t_end:
                t1 = min(t0 + slice_rows, t_end)
                first = t0 == 0
                q0 = 0
                i, k = 0, 0
                while q0 < n_pixels:
                    in_place = k + mr <= kp
                    if in_place:
                        out = dx + pixel_offset(g, n, pr + rows.stride * (i0 + i),
                                                pc + cols.stride * k) + co
                        out_stride = step
                    else:
                        out = sums + q0 * nr
                        out_stride = nr
                    # Pixels past the band read pixel q0's taps; their sums go nowhere.
                    for p in range(mr):
                        x_pixels[p] = (band_first + (i * pad.pitch + k) * Cy
                                       if q0 + p < n_pixels else x_pixels[0])
                        k += 1
                        if k == kp:
                            i, k = i + 1, 0
                    _phase_block(wide, x_pixels, tables + phase_start[phase] + t0,
                                 t1 - t0, w_phase + t0 * Cx + co, Cx,
                                 init if first else out, 0 if first else out_stride, out,
                                 out_stride)
                    q0 += mr
                t0 = t1
            # The blocks that summed in ``sums``, to dx.
            q0, k = 0, 0
            while q0 < n_pixels and t_end:
                if k + mr > kp:
                    for q in range(q0, min(q0 + mr, n_pixels)):
                        i, k = i0 + q // kp, q % kp
                        _copy_block_row(dx + pixel_offset(g, n, pr + rows.stride * i,
                                                          pc + cols.stride * k) + co,
                                        sums + q * nr, wide)
                q0 += mr
                k = q0 % kp
            co += nr


cdef void _phase_item(const floating* dy, const floating* packed, const Py_ssize_t* tables,
                     const Py_ssize_t* phase_start, const floating* bias,
                     const floating* zeros, floating* dx, Window* g, AxisPhases* rows,
                     AxisPhases* cols, const PaddedBand* pad, Py_ssize_t item,
                     Py_ssize_t band_rows, const Py_ssize_t* band_start, floating* sums,
                     floating* band) noexcept nogil:
    """Work item ``item``: image item // bands an image, then row phase by row phase, bands
    of band_rows rows (band_start[pr]: the first band of row phase pr)."""
    cdef Py_ssize_t per_image = band_start[rows.stride], n = item // per_image
    cdef Py_ssize_t band_index = item % per_image, pr = 0
    while band_start[pr + 1] <= band_index:
        pr += 1
    band_index -= band_start[pr]
    _phase_band(dy, packed, tables, phase_start, bias, zeros, dx, g, rows, cols, pad, n, pr,
                band_index * band_rows, min((band_index + 1) * band_rows, rows.count[pr]),
                sums, band)


cdef void _pack_phase_tile(const floating* w, floating* packed, const Py_ssize_t* phase_start,
                           AxisPhases* rows, AxisPhases* cols, Py_ssize_t Cx, Py_ssize_t Cy,
                           Py_ssize_t item) noexcept nogil:
    """Tile ``item`` of the packed kernel: for one phase tap (kh, kw), the rows of dy
    channels c in [c0, c0 + PACK_TILE), packed[row(c), x] = w[kh, kw, x, c]. Each tap's
    rows are w[kh, kw] transposed; reading PACK_TILE channels of w at once takes whole
    cache lines, where a row at a time read one value from each of C_in lines (the
    packing took 7.5% of DCGAN's 4x4 256->128)."""
    cdef Py_ssize_t tiles = (Cy + PACK_TILE - 1) // PACK_TILE
    cdef Py_ssize_t first_row = item // tiles * Cy, c0 = item % tiles * PACK_TILE
    cdef Py_ssize_t c1 = min(c0 + PACK_TILE, Cy), phase = 0, pr, pc, t, x, c
    while phase_start[phase + 1] <= first_row:
        phase += 1
    pr, pc = phase // cols.stride, phase % cols.stride
    t = (first_row - phase_start[phase]) // Cy
    cdef const floating* src = w + (rows.taps[pr * rows.k + t // cols.n_taps[pc]] * cols.k
                                    + cols.taps[pc * cols.k + t % cols.n_taps[pc]]) * Cx * Cy
    cdef floating* dst = packed + first_row * Cx
    for x in range(Cx):
        for c in range(c0, c1):
            dst[c * Cx + x] = src[x * Cy + c]


def conv2d_grad_input_phases(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] w,
                             floating[:, :, :, ::1] dx, tuple stride, tuple dilation,
                             tuple pad_top_left, const floating[::1] bias, int n_threads):
    """dx = bias + the adjoint of conv2d(., w) (groups=1) applied to dy, in place.

    Each of dx's stride phases (positions equal modulo the stride) is a correlation of
    dy with some of the kernel's taps (_geometry.adjoint_phases), run here on conv2d's
    tap micro-kernels, band by band of one row phase's rows (_phase_band), with no zeros
    inserted between dy's pixels and no columns: a register block holds MR pixels of one
    phase, written stride_w pixels apart. Each band reads a copy of its dy rows with
    zero borders, so no block needs to know where dy ends. The kernel is packed once per
    call, phase by phase, as (tap, dy channel) rows of dx's C_in channels, which come in
    whole or half register blocks (PHASE_CHANNELS_*). ``bias`` (C_in values or empty)
    starts every sum.
    """
    cdef Window g = make_window(dx.shape, dy.shape, (w.shape[0], w.shape[1]),
                                stride, dilation, pad_top_left, 1)
    check_conv_contract(&g, w.shape[2], w.shape[3], dy.shape[3])
    cdef Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
    cdef Py_ssize_t Cx = g.in_c, Cy = g.out_c
    if (dx.shape[0] != dy.shape[0] or n_threads < 1 or Cx % (COUT_BLOCK // 2)
            or WIDE_PIX_BLOCK > PHASE_MAX_PIXELS
            or (bias.shape[0] != 0 and bias.shape[0] != Cx)):
        raise ValueError("kernel contract: dx and dy batch sizes agree, n_threads >= 1, "
                         "C_in comes in half register blocks, bias is empty or C_in long")
    if g.batch * g.in_h * g.in_w == 0:
        return
    cdef AxisPhases rows, cols
    rows.count = NULL
    cols.count = NULL
    cdef Py_ssize_t pr, pc, a, b, c, phase, n_phases = g.stride_h * g.stride_w, kh, kw, item
    cdef Py_ssize_t* phase_start = NULL
    cdef Py_ssize_t* tables = NULL
    cdef floating* packed = NULL
    cdef floating* zeros = NULL
    cdef const floating* w_ptr = &w[0, 0, 0, 0]
    cdef Py_ssize_t t, start
    cdef Py_ssize_t band_rows = PHASE_MAX_BAND, most_pixels = 0, right
    cdef Py_ssize_t* band_start = NULL
    cdef PaddedBand pad
    cdef Py_ssize_t sums_size, band_size, pack_tiles
    cdef floating* sums = NULL
    cdef floating* bands = NULL
    cdef const floating* bias_ptr = &bias[0] if bias.shape[0] else NULL
    try:
        _axis_phases(&rows, g.in_h, g.k_h, g.stride_h, g.dil_h, g.pad_top)
        _axis_phases(&cols, g.in_w, g.k_w, g.stride_w, g.dil_w, g.pad_left)
        phase_start = <Py_ssize_t*> malloc((n_phases + 1) * sizeof(Py_ssize_t))
        if phase_start == NULL:
            raise MemoryError("conv2d_grad_input: cannot allocate the phase tables")
        phase_start[0] = 0
        for phase in range(n_phases):
            phase_start[phase + 1] = phase_start[phase] + (
                rows.n_taps[phase // g.stride_w] * cols.n_taps[phase % g.stride_w] * Cy)
        tables = <Py_ssize_t*> malloc(max(phase_start[n_phases], <Py_ssize_t> 1)
                                      * sizeof(Py_ssize_t))
        packed = <floating*> fc_aligned_alloc(max(phase_start[n_phases], <Py_ssize_t> 1) * Cx
                                              * sizeof(floating))
        zeros = <floating*> calloc(max(Cy, COUT_BLOCK), sizeof(floating))
        # Bands of rows: enough for PHASE_BAND_PIXELS pixels of the first column phase.
        band_rows = min(<Py_ssize_t> PHASE_MAX_BAND,
                        max(<Py_ssize_t> 1, (PHASE_BAND_PIXELS + cols.count[0] - 1)
                            // max(cols.count[0], <Py_ssize_t> 1)))
        # A band's dy rows with the zero borders its taps read (PaddedBand).
        pad.rows, pad.left, right = 0, 0, g.out_w
        for pc in range(g.stride_w):
            b = cols.n_taps[pc]
            if cols.count[pc] and b:
                pad.left = max(pad.left, -cols.base[pc * g.k_w + b - 1])
                right = max(right, cols.base[pc * g.k_w] + cols.count[pc])
            most_pixels = max(most_pixels, band_rows * cols.count[pc])
        pad.pitch = pad.left + right
        for pr in range(g.stride_h):
            a = rows.n_taps[pr]
            if rows.count[pr] and a:
                pad.rows = max(pad.rows, band_rows + rows.base[pr * g.k_h]
                               - rows.base[pr * g.k_h + a - 1])
        band_size = _round_up(pad.rows * pad.pitch * Cy, PART_ALIGN)
        sums_size = _round_up((most_pixels + PHASE_MAX_PIXELS) * COUT_BLOCK, PART_ALIGN)
        bands = <floating*> fc_aligned_alloc(n_threads * band_size * sizeof(floating))
        sums = <floating*> fc_aligned_alloc(n_threads * sums_size * sizeof(floating))
        band_start = <Py_ssize_t*> malloc((g.stride_h + 1) * sizeof(Py_ssize_t))
        if (tables == NULL or packed == NULL or zeros == NULL or band_start == NULL
                or sums == NULL or bands == NULL):
            raise MemoryError("conv2d_grad_input: cannot allocate the packed kernel")
        band_start[0] = 0
        for pr in range(g.stride_h):
            band_start[pr + 1] = band_start[pr] + (rows.count[pr] + band_rows - 1) // band_rows
        # Tap tables: where tap (a, b, c) of a phase reads a band's copy of dy, from its
        # first tap's pixel.
        for pr in range(g.stride_h):
            for pc in range(g.stride_w):
                phase = pr * g.stride_w + pc
                t = phase_start[phase]
                for a in range(rows.n_taps[pr]):
                    for b in range(cols.n_taps[pc]):
                        for c in range(Cy):
                            tables[t] = ((rows.base[pr * g.k_h + a] - rows.base[pr * g.k_h])
                                         * pad.pitch + cols.base[pc * g.k_w + b]
                                         - cols.base[pc * g.k_w]) * Cy + c
                            t += 1
        # Tiles of the packed kernel: PACK_TILE dy channels of a phase tap.
        pack_tiles = (phase_start[n_phases] // Cy * ((Cy + PACK_TILE - 1) // PACK_TILE)
                      if Cy else 0)
        with nogil:
            # packed[phase][(a, b, c)][:] = w[kh, kw, :, c], a row per (phase tap, c).
            for item in prange(pack_tiles, num_threads=n_threads, schedule="static"):
                _pack_phase_tile(w_ptr, packed, phase_start, &rows, &cols, Cx, Cy, item)
            for item in prange(g.batch * band_start[g.stride_h], num_threads=n_threads,
                               schedule="guided"):
                _phase_item(&dy[0, 0, 0, 0], packed, tables, phase_start, bias_ptr, zeros,
                            &dx[0, 0, 0, 0], &g, &rows, &cols, &pad, item, band_rows,
                            band_start, sums + threadid() * sums_size,
                            bands + threadid() * band_size)
    finally:
        fc_aligned_free(sums)
        fc_aligned_free(bands)
        free(rows.count)
        free(cols.count)
        free(phase_start)
        free(tables)
        fc_aligned_free(packed)
        free(zeros)
        free(band_start)


# ---------------------------------------------------------------------------
# conv2d_grad_weight
# ---------------------------------------------------------------------------
cdef extern from "fastconv_outer.h" nogil:
    # steps: (column, row, plane) strides of a run of pixels; extent: (columns, rows, planes).
    void outer_sum_f32 "fc_outer_sum_f32"(Py_ssize_t m, Py_ssize_t n, const float* a,
                                          const Py_ssize_t* a_steps, const float* b,
                                          const Py_ssize_t* b_steps, const Py_ssize_t* extent,
                                          float* c, Py_ssize_t ldc)
    void outer_sum_f64 "fc_outer_sum_f64"(Py_ssize_t m, Py_ssize_t n, const double* a,
                                          const Py_ssize_t* a_steps, const double* b,
                                          const Py_ssize_t* b_steps, const Py_ssize_t* extent,
                                          double* c, Py_ssize_t ldc)
    void product_field_f32 "fc_product_field_f32"(
        Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t n, const float* x, Py_ssize_t tap_row,
        Py_ssize_t tap_col, Py_ssize_t x_col, Py_ssize_t x_row, const float* dy,
        Py_ssize_t dy_col, Py_ssize_t dy_row, Py_ssize_t rows, Py_ssize_t cols, float* c,
        Py_ssize_t c_row, Py_ssize_t c_tap)
    void product_field_f64 "fc_product_field_f64"(
        Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t n, const double* x, Py_ssize_t tap_row,
        Py_ssize_t tap_col, Py_ssize_t x_col, Py_ssize_t x_row, const double* dy,
        Py_ssize_t dy_col, Py_ssize_t dy_row, Py_ssize_t rows, Py_ssize_t cols, double* c,
        Py_ssize_t c_row, Py_ssize_t c_tap)
    void product_sum_f32 "fc_product_sum_f32"(Py_ssize_t n, const float* a,
                                              const Py_ssize_t* a_steps, const float* b,
                                              const Py_ssize_t* b_steps,
                                              const Py_ssize_t* extent, float* c)
    void product_sum_f64 "fc_product_sum_f64"(Py_ssize_t n, const double* a,
                                              const Py_ssize_t* a_steps, const double* b,
                                              const Py_ssize_t* b_steps,
                                              const Py_ssize_t* extent, double* c)


# The layouts' numbers, for the plan (fastconv._plan names them).
WEIGHT_LAYOUTS = {"by_tap": 0, "by_tap_flipped": 1, "by_field": 2, "by_field_flipped": 3,
                  "depthwise": 4, "by_row": 5}


cdef enum:
    SUM_ROW_ALIGN = 16   # the partial sums' rows are whole vectors on every build
    FC_TAPS_ROW_MAX = 64   # kernel width the row layouts' stack arrays hold


cdef enum Layout:
    # How the weight gradient's partial sums are laid out, and which operand the
    # micro-kernel broadcasts (a) and which it loads as vectors (b):
    BY_TAP = 0             # per tap, a = x's channels, b = dy's: rows (tap, c), columns o
    BY_TAP_FLIPPED = 1     # per tap, a = dy's channels, b = x's: rows (tap, o), columns c
    BY_FIELD = 2           # a = receptive fields (im2col), b = dy: rows (tap, c), columns o
    BY_FIELD_FLIPPED = 3   # a = dy, b = receptive fields: rows o, columns (tap, c)
    DEPTHWISE = 4          # one input channel per group: rows tap, columns dy's channels
    BY_ROW = 5             # as BY_TAP, but a kernel row's taps broadcast together


cdef inline Py_ssize_t _round_up(Py_ssize_t n, Py_ssize_t step) noexcept nogil:
    return (n + step - 1) // step * step


cdef inline void _outer_sum(Py_ssize_t m, Py_ssize_t n, const floating* a,
                            const Py_ssize_t* a_steps, const floating* b,
                            const Py_ssize_t* b_steps, const Py_ssize_t* extent, floating* c,
                            Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        outer_sum_f32(m, n, a, a_steps, b, b_steps, extent, c, ldc)
    else:
        outer_sum_f64(m, n, a, a_steps, b, b_steps, extent, c, ldc)


cdef inline void _product_sum(Py_ssize_t n, const floating* a, const Py_ssize_t* a_steps,
                              const floating* b, const Py_ssize_t* b_steps,
                              const Py_ssize_t* extent, floating* c) noexcept nogil:
    if floating is float:
        product_sum_f32(n, a, a_steps, b, b_steps, extent, c)
    else:
        product_sum_f64(n, a, a_steps, b, b_steps, extent, c)


cdef inline void _product_field(Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t n, const floating* x,
                                Py_ssize_t tap_row, Py_ssize_t tap_col, Py_ssize_t x_col,
                                Py_ssize_t x_row, const floating* dy, Py_ssize_t dy_col,
                                Py_ssize_t dy_row, Py_ssize_t rows, Py_ssize_t cols,
                                floating* c, Py_ssize_t c_row, Py_ssize_t c_tap) noexcept nogil:
    if floating is float:
        product_field_f32(kh, kw, n, x, tap_row, tap_col, x_col, x_row, dy, dy_col, dy_row,
                          rows, cols, c, c_row, c_tap)
    else:
        product_field_f64(kh, kw, n, x, tap_row, tap_col, x_col, x_row, dy, dy_col, dy_row,
                          rows, cols, c, c_row, c_tap)


cdef struct SumShape:
    # The partial sums of one layout: element (grp, tap, c, o) of the weight gradient is
    # at grp * s_grp + tap * s_tap + c * s_c + o * s_o of a buffer of `size` values.
    Py_ssize_t ldc, size, s_grp, s_tap, s_c, s_o
    Py_ssize_t width      # b's values per group (the columns a part splits)


cdef SumShape _sum_shape(const Window* g, int layout) noexcept nogil:
    cdef SumShape s
    cdef Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
    cdef Py_ssize_t taps = g.k_h * g.k_w
    if layout == BY_TAP or layout == BY_FIELD or layout == BY_ROW:
        s.width = cout_g
        s.ldc = _round_up(cout_g, SUM_ROW_ALIGN)
        s.s_o, s.s_c, s.s_tap = 1, s.ldc, cin_g * s.ldc
        s.s_grp = taps * s.s_tap
    elif layout == BY_TAP_FLIPPED:
        s.width = cin_g
        s.ldc = _round_up(cin_g, SUM_ROW_ALIGN)
        s.s_c, s.s_o, s.s_tap = 1, s.ldc, cout_g * s.ldc
        s.s_grp = taps * s.s_tap
    elif layout == BY_FIELD_FLIPPED:
        s.width = taps * cin_g
        s.ldc = _round_up(taps * cin_g, SUM_ROW_ALIGN)
        s.s_c, s.s_tap, s.s_o = 1, cin_g, s.ldc
        s.s_grp = cout_g * s.ldc
    else:   # DEPTHWISE: one row per tap, dy's channels along it
        s.width = g.out_c
        s.ldc = _round_up(g.out_c, SUM_ROW_ALIGN)
        s.s_grp, s.s_tap, s.s_c, s.s_o = cout_g, s.ldc, 0, 1
    s.size = g.groups * s.s_grp if layout != DEPTHWISE else taps * s.ldc
    return s


cdef inline Py_ssize_t _tap_rows(const Window* g, Py_ssize_t kh, Py_ssize_t oh0,
                                 Py_ssize_t oh1, Py_ssize_t* first) noexcept nogil:
    """The output rows in [oh0, oh1) whose kernel row kh reads an input row inside the
    image: first[0], first[0] + 1, ...; returns how many (maybe 0)."""
    cdef Py_ssize_t offset = kh * g.dil_h - g.pad_top   # ih = oh * stride + offset
    cdef Py_ssize_t lo = _floor_div(-offset + g.stride_h - 1, g.stride_h)
    cdef Py_ssize_t hi = _floor_div(g.in_h - 1 - offset, g.stride_h) + 1
    lo = max(lo, oh0)
    hi = min(hi, oh1)
    first[0] = lo
    return hi - lo if hi > lo else 0


cdef inline void _pixel_steps(const Window* g, Py_ssize_t* x_steps,
                              Py_ssize_t* dy_steps) noexcept nogil:
    """The (column, row, image) strides of a tap's run of pixels in x and in dy."""
    x_steps[0] = g.stride_w * g.in_c
    x_steps[1] = g.stride_h * g.in_w * g.in_c
    x_steps[2] = g.in_h * g.in_w * g.in_c
    dy_steps[0] = g.out_c
    dy_steps[1] = g.out_w * g.out_c
    dy_steps[2] = g.out_h * g.out_w * g.out_c


cdef inline void _row_columns(const Window* g, Py_ssize_t* first, Py_ssize_t* end,
                              Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The output columns [first[kw], end[kw]) that each tap of a kernel row reads inside
    the image, and [lo, hi) where all of them do (empty: lo == hi)."""
    cdef Py_ssize_t kw, ow_first, iw_first, count
    lo[0], hi[0] = 0, g.out_w
    for kw in range(g.k_w):
        count = _tap_columns(g, kw, &ow_first, &iw_first)
        first[kw], end[kw] = ow_first, ow_first + count
        lo[0], hi[0] = max(lo[0], first[kw]), min(hi[0], end[kw])
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef void _weight_band_by_tap(const floating* x, const floating* dy, floating* acc,
                              const Window* g, int layout, const SumShape* s,
                              Py_ssize_t n, Py_ssize_t images, Py_ssize_t oh0, Py_ssize_t oh1,
                              Py_ssize_t grp, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """Add output rows [oh0, oh1) of images n .. n + images - 1 to the sums of group grp's
    columns [j0, j1), tap by tap: each tap's pixels are a 3-D strided run of x and of dy.
    (Not the depthwise layout: _weight_band_depthwise.)"""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t kh, kw, oh_first, ow_first, iw_first, tap
        Py_ssize_t x_steps[3]
        Py_ssize_t dy_steps[3]
        Py_ssize_t extent[3]
        const floating* xp
        const floating* dyp
        floating* c
    _pixel_steps(g, x_steps, dy_steps)
    extent[2] = images
    for kh in range(g.k_h):
        extent[1] = _tap_rows(g, kh, oh0, oh1, &oh_first)
        if extent[1] == 0:
            continue
        for kw in range(g.k_w):
            extent[0] = _tap_columns(g, kw, &ow_first, &iw_first)
            if extent[0] == 0:
                continue
            tap = kh * g.k_w + kw
            xp = x + pixel_offset(g, n, input_row(g, oh_first, kh), iw_first)
            dyp = dy + ((n * g.out_h + oh_first) * g.out_w + ow_first) * g.out_c
            c = acc + grp * s.s_grp + tap * s.s_tap
            if layout == BY_TAP:
                _outer_sum(cin_g, j1 - j0, xp + grp * cin_g, x_steps,
                           dyp + grp * cout_g + j0, dy_steps, extent, c + j0, s.ldc)
            else:   # BY_TAP_FLIPPED
                _outer_sum(cout_g, j1 - j0, dyp + grp * cout_g, dy_steps,
                           xp + grp * cin_g + j0, x_steps, extent, c + j0, s.ldc)


cdef enum:
    # Output rows that the depthwise layout's passes take together (fc_product_field):
    # on one core, (8,56,56,128) 3x3 ran at 34 GFLOP/s with 4 and 26 with 1.
    DEPTHWISE_ROWS = 4


cdef inline void _depthwise_borders(const Window* g, Py_ssize_t n_ch, const floating* x_row,
                                    Py_ssize_t x_c, const floating* dy_row,
                                    const Py_ssize_t* first, const Py_ssize_t* end,
                                    Py_ssize_t lo, Py_ssize_t hi, floating* c_row,
                                    Py_ssize_t c_tap, bint middle) noexcept nogil:
    """One output row's sums for one kernel row, x_row its input row: the columns where
    some tap of the row reads outside the image, tap by tap (and the middle columns,
    all the row's taps together, if ``middle``)."""
    cdef:
        Py_ssize_t kw, ow_first
        Py_ssize_t steps[3]
        Py_ssize_t dy_steps[3]
        Py_ssize_t extent[3]
    steps[0], steps[1], steps[2] = g.stride_w * x_c, 0, 0
    dy_steps[0], dy_steps[1], dy_steps[2] = g.out_c, 0, 0
    extent[1], extent[2] = 1, 1
    for kw in range(g.k_w):   # the left border
        extent[0] = min(lo, end[kw]) - first[kw]
        if extent[0] > 0:
            _product_sum(n_ch, x_row + input_col(g, first[kw], kw) * x_c, steps,
                         dy_row + first[kw] * g.out_c, dy_steps, extent, c_row + kw * c_tap)
    if middle and hi > lo:
        _product_field(1, g.k_w, n_ch, x_row + input_col(g, lo, 0) * x_c, 0, g.dil_w * x_c,
                       g.stride_w * x_c, 0, dy_row + lo * g.out_c, g.out_c, 0, 1, hi - lo,
                       c_row, 0, c_tap)
    for kw in range(g.k_w):   # the right border (or all, without a middle)
        ow_first = max(hi, first[kw])
        extent[0] = end[kw] - ow_first
        if extent[0] > 0:
            _product_sum(n_ch, x_row + input_col(g, ow_first, kw) * x_c, steps,
                         dy_row + ow_first * g.out_c, dy_steps, extent, c_row + kw * c_tap)


cdef void _weight_band_depthwise(const floating* x_rows, Py_ssize_t x_c, Py_ssize_t ih0,
                                 Py_ssize_t row_step, Py_ssize_t image_step,
                                 const floating* dy, floating* acc, const Window* g,
                                 const SumShape* s, Py_ssize_t n, Py_ssize_t images,
                                 Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t j0,
                                 Py_ssize_t j1) noexcept nogil:
    """The depthwise layout's share of output rows [oh0, oh1) of images n .., channels
    [j0, j1). Rows whose kernel rows all read inside the image go DEPTHWISE_ROWS at a
    time through all the taps at once (fc_product_field) where all the taps' columns
    are inside too; the other rows kernel row by kernel row, and the border columns
    tap by tap. The order of the sums depends on the band (the plan derives it from the
    shapes), not on the threads.

    x_rows holds input rows ih0 .. of the images, ``x_c`` values a pixel (channel j of
    dy meets value j of a pixel), ``row_step`` and ``image_step`` apart: x itself when
    each channel has one output, else x's rows with each channel repeated
    (_repeat_channels)."""
    cdef:
        Py_ssize_t kh, r, rr, p, lo, hi, together, inner0, inner1, ih
        Py_ssize_t first[FC_TAPS_ROW_MAX]
        Py_ssize_t end[FC_TAPS_ROW_MAX]
        Py_ssize_t n_ch = j1 - j0, c_row = g.k_w * s.s_tap
        const floating* x_image
        const floating* dy_row
        floating* c = acc + j0
    # The columns each tap of a kernel row reads inside the image, and where all do.
    _row_columns(g, first, end, &lo, &hi)
    # The output rows whose kernel rows all read inside the image: [inner0, inner1).
    inner0 = max(oh0, (g.pad_top + g.stride_h - 1) // g.stride_h)
    inner1 = min(oh1, _floor_div(g.in_h - 1 + g.pad_top - (g.k_h - 1) * g.dil_h,
                                 g.stride_h) + 1)
    for p in range(images):
        x_image = x_rows + p * image_step + j0
        r = oh0
        while r < oh1:
            dy_row = dy + ((n + p) * g.out_h + r) * g.out_w * g.out_c + j0
            if inner0 <= r < inner1:
                together = min(DEPTHWISE_ROWS, inner1 - r)
                if hi > lo:
                    _product_field(g.k_h, g.k_w, n_ch,
                                   x_image + (input_row(g, r, 0) - ih0) * row_step
                                   + input_col(g, lo, 0) * x_c,
                                   g.dil_h * row_step, g.dil_w * x_c, g.stride_w * x_c,
                                   g.stride_h * row_step, dy_row + lo * g.out_c, g.out_c,
                                   g.out_w * g.out_c, together, hi - lo, c, c_row, s.s_tap)
                for rr in range(r, r + together):
                    dy_row = dy + ((n + p) * g.out_h + rr) * g.out_w * g.out_c + j0
                    for kh in range(g.k_h):
                        _depthwise_borders(g, n_ch, x_image + (input_row(g, rr, kh) - ih0)
                                           * row_step, x_c, dy_row, first, end, lo, hi,
                                           c + kh * c_row, s.s_tap, False)
                r = r + together
            else:
                for kh in range(g.k_h):
                    ih = input_row(g, r, kh)
                    if 0 <= ih < g.in_h:
                        _depthwise_borders(g, n_ch, x_image + (ih - ih0) * row_step, x_c,
                                           dy_row, first, end, lo, hi, c + kh * c_row,
                                           s.s_tap, True)
                r = r + 1


cdef inline Py_ssize_t _first_held_row(const Window* g, Py_ssize_t oh0) noexcept nogil:
    """The first input row inside the image that output rows oh0 .. read."""
    return max(<Py_ssize_t> 0, input_row(g, oh0, 0))


cdef inline Py_ssize_t _held_rows_end(const Window* g, Py_ssize_t oh0,
                                      Py_ssize_t oh1) noexcept nogil:
    """The end of the input rows inside the image that output rows [oh0, oh1) read.
    Returned rather than written through a pointer: in a prange body, Cython makes a
    variable private only where the body assigns it, and a shared row bound raced."""
    return max(_first_held_row(g, oh0), min(g.in_h, input_row(g, oh1 - 1, g.k_h - 1) + 1))


cdef void _repeat_channels(const floating* x, const Window* g, Py_ssize_t n,
                           Py_ssize_t images, Py_ssize_t ih0, Py_ssize_t ih1,
                           floating* out) noexcept nogil:
    """Rows [ih0, ih1) of images n .. n + images - 1 of x, each channel repeated once per
    output channel of its group (a depthwise channel multiplier), so that dy's channels
    and x's values line up lane for lane."""
    cdef:
        Py_ssize_t mult = g.out_c // g.in_c, pixels = (ih1 - ih0) * g.in_w
        Py_ssize_t p, i, k
        const floating* src
        floating* dst = out
        floating v
    for p in range(images):
        src = x + pixel_offset(g, n + p, ih0, 0)
        for i in range(pixels * g.in_c):
            v = src[i]
            for k in range(mult):
                dst[k] = v
            dst += mult


cdef void _weight_band_by_row(const floating* x, const floating* dy, floating* acc,
                              const Window* g, const SumShape* s, Py_ssize_t n,
                              Py_ssize_t images, Py_ssize_t oh0, Py_ssize_t oh1,
                              Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """BY_ROW: with one group and no column dilation, a kernel row's taps read k_w * C_in
    consecutive values of x, which the micro-kernel broadcasts together (the sums' rows
    (kw, c) are in that order too): an RGB 7x7 stem has 21 values a row to broadcast
    where a tap has 3. The columns where some tap of the row falls outside the image go
    tap by tap. Each run spans the band's rows and images, so a value adds its border
    pixels and its middle pixels in separate runs: the bits depend on the band, which
    the plan derives from the shapes alone."""
    cdef:
        Py_ssize_t kh, kw, ow_first, lo, hi
        Py_ssize_t first[FC_TAPS_ROW_MAX]
        Py_ssize_t end[FC_TAPS_ROW_MAX]
        Py_ssize_t oh_first
        Py_ssize_t x_steps[3]
        Py_ssize_t dy_steps[3]
        Py_ssize_t extent[3]
        const floating* x_rows
        const floating* dy_rows
        floating* c_row
    _pixel_steps(g, x_steps, dy_steps)
    extent[2] = images
    _row_columns(g, first, end, &lo, &hi)
    for kh in range(g.k_h):
        extent[1] = _tap_rows(g, kh, oh0, oh1, &oh_first)
        if extent[1] == 0:
            continue
        c_row = acc + kh * g.k_w * s.s_tap + j0
        x_rows = x + pixel_offset(g, n, input_row(g, oh_first, kh), 0)
        dy_rows = dy + (n * g.out_h + oh_first) * g.out_w * g.out_c + j0
        extent[0] = hi - lo
        if extent[0] > 0:
            _outer_sum(g.k_w * g.in_c, j1 - j0, x_rows + input_col(g, lo, 0) * g.in_c,
                       x_steps, dy_rows + lo * g.out_c, dy_steps, extent, c_row, s.ldc)
        for kw in range(g.k_w):   # the borders (or all, without a middle), tap by tap
            extent[0] = min(lo, end[kw]) - first[kw]
            if extent[0] > 0:
                _outer_sum(g.in_c, j1 - j0, x_rows + input_col(g, first[kw], kw) * g.in_c,
                           x_steps, dy_rows + first[kw] * g.out_c, dy_steps, extent,
                           c_row + kw * s.s_tap, s.ldc)
            ow_first = max(hi, first[kw])
            extent[0] = end[kw] - ow_first
            if extent[0] > 0:
                _outer_sum(g.in_c, j1 - j0, x_rows + input_col(g, ow_first, kw) * g.in_c,
                           x_steps, dy_rows + ow_first * g.out_c, dy_steps, extent,
                           c_row + kw * s.s_tap, s.ldc)


cdef void _weight_tile_by_field(const floating* x, const floating* dy, floating* acc,
                                Window* g, int layout, const SumShape* s,
                                Py_ssize_t first, Py_ssize_t n_pixels, Py_ssize_t grp,
                                Py_ssize_t j0, Py_ssize_t j1, floating* fields) noexcept nogil:
    """Add output pixels [first, first + n_pixels) to the sums of group grp's columns
    [j0, j1), through their receptive fields packed as im2col does."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        const floating* dyp = dy + first * g.out_c + grp * cout_g
        floating* c = acc + grp * s.s_grp
        Py_ssize_t field_steps[3]
        Py_ssize_t dy_steps[3]
        Py_ssize_t extent[3]
    field_steps[0], field_steps[1], field_steps[2] = k_len, 0, 0
    dy_steps[0], dy_steps[1], dy_steps[2] = g.out_c, 0, 0
    extent[0], extent[1], extent[2] = n_pixels, 1, 1
    pack_patches(x, g, first, n_pixels, grp, fields)
    if layout == BY_FIELD:
        _outer_sum(k_len, j1 - j0, fields, field_steps, dyp + j0, dy_steps, extent, c + j0, s.ldc)
    else:   # BY_FIELD_FLIPPED
        _outer_sum(cout_g, j1 - j0, dyp, dy_steps, fields + j0, field_steps, extent, c + j0,
                   s.ldc)


def conv2d_grad_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                       floating[:, :, :, ::1] dw, tuple stride, tuple dilation,
                       tuple pad_top_left, Py_ssize_t groups, int layout, Py_ssize_t band,
                       Py_ssize_t n_chunks, Py_ssize_t part_width, int n_threads):
    """dw = the adjoint of conv2d(x, .) applied to dy, written in place, by outer-product
    micro-kernels (fastconv_outer.h) with the partial sums in registers.

    The work is (chunk, part) items: the output rows (the pixels, for the im2col
    layouts) are cut into ``n_chunks`` consecutive chunks, each with its own partial
    sum, and each group's b columns into parts of ``part_width`` values (a multiple of
    16). A chunk goes through its rows ``band`` rows (pixels) at a time, so that their
    input stays in cache across the taps. The partial sums are added in chunk order:
    the result depends on ``n_chunks`` alone (and on ``band`` in the by-row and depthwise
    layouts), not on ``n_threads`` or the parts.
    Workspace: the n_chunks partial sums, and per thread one band of receptive fields
    for the im2col layouts, or one band's input rows with each channel repeated for a
    depthwise layer with a channel multiplier.
    """
    cdef Window g = make_window(x.shape, dy.shape, (dw.shape[0], dw.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, dw.shape[2], dw.shape[3], dy.shape[3])
    if x.shape[0] != dy.shape[0] or n_threads < 1 or n_chunks < 1 or band < 1:
        raise ValueError("kernel contract: x and dy batch sizes differ, or n_threads, "
                         "n_chunks or band < 1")
    if layout < BY_TAP or layout > BY_ROW or part_width < 1 or part_width % SUM_ROW_ALIGN:
        raise ValueError("kernel contract: unknown layout, or part_width not a positive "
                         "multiple of 16")
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        bint by_field = layout == BY_FIELD or layout == BY_FIELD_FLIPPED
    if layout == DEPTHWISE and (cin_g != 1 or g.k_w > FC_TAPS_ROW_MAX):
        raise ValueError("kernel contract: the depthwise layout needs one input channel per "
                         "group and a kernel at most 64 wide")
    if layout == BY_ROW and (g.groups != 1 or g.dil_w != 1 or g.k_w > FC_TAPS_ROW_MAX):
        raise ValueError("kernel contract: the by-row layout needs one group, no column "
                         "dilation and a kernel at most 64 wide")
    cdef:
        SumShape s = _sum_shape(&g, layout)
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        Py_ssize_t units = g.batch * g.out_h * (g.out_w if by_field else 1)
        Py_ssize_t parts_per_group = (s.width + part_width - 1) // part_width
        Py_ssize_t n_parts = parts_per_group * (1 if layout == DEPTHWISE else g.groups)
        Py_ssize_t item, chunk, part, grp, j0, j1, u, u_end, step, n, oh, i, q, kh, kw, c, o
        Py_ssize_t later, images, rows, base
        Py_ssize_t w_row = dw.shape[3], w_size = dw.shape[0] * dw.shape[1] * dw.shape[2] * dw.shape[3]
        Py_ssize_t fields_size = _round_up(band * k_len, PART_ALIGN) if by_field else 0
        bint repeat = layout == DEPTHWISE and cout_g > 1
        Py_ssize_t ih0, ih1, x_c, image_step
        Py_ssize_t repeat_size = 0
        const floating* x_rows
        floating* repeated = NULL
        floating* rows_copy
        int team
        floating* sums = NULL
        floating* fields = NULL
        floating* out = &dw[0, 0, 0, 0]
        floating* chunk_sum
        floating total
    if units == 0:
        memset(out, 0, w_size * sizeof(floating))
        return
    n_chunks = min(n_chunks, units)
    team = <int> min(<Py_ssize_t> n_threads, n_chunks * n_parts)
    if repeat:
        # One band's input rows: whole images (at most the batch) or a band's rows of one.
        repeat_size = _round_up(min(max(1, band // g.out_h), g.batch) * g.in_w * g.out_c
                                * min(g.in_h, (min(band, g.out_h) - 1) * g.stride_h
                                      + (g.k_h - 1) * g.dil_h + 1), PART_ALIGN)
    try:
        # Aligned, so that the rows of the partial sums (whole vectors) start on lines.
        sums = <floating*> fc_aligned_alloc(n_chunks * s.size * sizeof(floating))
        if sums == NULL:
            raise MemoryError("conv2d_grad_weight: cannot allocate the partial sums")
        if by_field:
            fields = <floating*> fc_aligned_alloc(team * fields_size * sizeof(floating))
            if fields == NULL:
                raise MemoryError("conv2d_grad_weight: cannot allocate the receptive fields")
        if repeat:
            repeated = <floating*> fc_aligned_alloc(team * repeat_size * sizeof(floating))
            if repeated == NULL:
                raise MemoryError("conv2d_grad_weight: cannot allocate the repeated channels")
        with nogil:
            for chunk in prange(n_chunks, num_threads=team, schedule="static"):
                memset(sums + chunk * s.size, 0, s.size * sizeof(floating))
            for item in prange(n_chunks * n_parts, num_threads=team, schedule="dynamic"):
                chunk = item // n_parts
                part = item % n_parts
                grp = 0 if layout == DEPTHWISE else part // parts_per_group
                j0 = (part % parts_per_group) * part_width
                j1 = min(j0 + part_width, s.width)
                chunk_sum = sums + chunk * s.size
                u = chunk * units // n_chunks
                u_end = (chunk + 1) * units // n_chunks
                while u < u_end:
                    if by_field:
                        step = min(band, u_end - u)
                        _weight_tile_by_field(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], chunk_sum, &g, layout,
                                              &s, u, step, grp, j0, j1,
                                              fields + threadid() * fields_size)
                    else:
                        # A band of output rows within one image, or of whole images.
                        n = u // g.out_h
                        oh = u % g.out_h
                        images = 1
                        if oh == 0 and u_end - u >= g.out_h and band >= g.out_h:
                            images = max(1, min(band // g.out_h, (u_end - u) // g.out_h))
                            rows = g.out_h
                        else:
                            rows = min(band, u_end - u, g.out_h - oh)
                        if layout == BY_ROW:
                            _weight_band_by_row(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], chunk_sum,
                                                &g, &s, n, images, oh, oh + rows, j0, j1)
                        elif layout == DEPTHWISE:
                            if repeat:
                                ih0 = _first_held_row(&g, oh)
                                ih1 = _held_rows_end(&g, oh, oh + rows)
                                rows_copy = repeated + threadid() * repeat_size
                                _repeat_channels(&x[0, 0, 0, 0], &g, n, images, ih0, ih1,
                                                 rows_copy)
                                x_rows = rows_copy
                                x_c = g.out_c
                                image_step = (ih1 - ih0) * g.in_w * x_c
                            else:
                                ih0 = 0
                                x_rows = &x[0, 0, 0, 0] + pixel_offset(&g, n, 0, 0)
                                x_c = g.in_c
                                image_step = g.in_h * g.in_w * x_c
                            _weight_band_depthwise(x_rows, x_c, ih0, g.in_w * x_c, image_step,
                                                   &dy[0, 0, 0, 0], chunk_sum, &g, &s, n,
                                                   images, oh, oh + rows, j0, j1)
                        else:
                            _weight_band_by_tap(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], chunk_sum, &g,
                                                layout, &s, n, images, oh, oh + rows, grp, j0,
                                                j1)
                        step = images * rows
                    u = u + step
            # dw[kh, kw, c, grp * cout_g + o]: the partial sums added in chunk order.
            for i in prange(w_size // w_row, num_threads=team, schedule="static"):
                kh = i // (g.k_w * cin_g)
                kw = (i // cin_g) % g.k_w
                c = i % cin_g
                for grp in range(g.groups):
                    base = grp * s.s_grp + (kh * g.k_w + kw) * s.s_tap + c * s.s_c
                    for o in range(cout_g):
                        q = base + o * s.s_o
                        total = sums[q]
                        for later in range(1, n_chunks):
                            total = total + sums[later * s.size + q]
                        out[i * w_row + grp * cout_g + o] = total
    finally:
        fc_aligned_free(sums)
        fc_aligned_free(fields)
        fc_aligned_free(repeated)


# ---------------------------------------------------------------------------
# Pooling gradients
# ---------------------------------------------------------------------------


cdef inline void _clip(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t size,
                       Py_ssize_t extent, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The window's real pixels along one axis: [lo, hi)."""
    cdef Py_ssize_t start = o * stride - pad
    lo[0] = start if start > 0 else 0
    hi[0] = start + size if start + size < extent else extent


cdef inline void _zero_row(floating* dx_image, const Window* g, Py_ssize_t ih,
                           Py_ssize_t width) noexcept nogil:
    """dx row ih of the item's image, the item's channels only."""
    cdef Py_ssize_t iw, j
    cdef floating* dx_px
    if width == g.in_c:
        memset(dx_image + pixel_offset(g, 0, ih, 0), 0, g.in_w * g.in_c * sizeof(floating))
    else:
        for iw in range(g.in_w):
            dx_px = dx_image + pixel_offset(g, 0, ih, iw)
            for j in range(width):
                dx_px[j] = 0


# Channels per register block of max_pool2d_grad: a block's maxima and their places
# stay in registers over the window (fixed-size arrays, as _pool.pyx's POOL_BLOCK), where
# the item's whole channel width went through memory, each tap's compare waiting on the
# last tap's store (0.4 ms against PyTorch's 0.23 on (64,26,26,32) 2x2). Only work
# items of fewer channels than a block go the memory way.
cdef enum:
    MAX_GRAD_BLOCK = 32
    # Windows ahead whose new columns of x are prefetched: the blocks waited on x's loads
    # from memory, three streams of rows too many for the hardware's prefetcher.
    MAX_GRAD_PREFETCH_WINDOWS = 4


cdef inline void _max_grad_window_narrow(const floating* x_window, const floating* dy_px,
                                    floating* dx_window, Py_ssize_t width, Py_ssize_t rows,
                                    Py_ssize_t cols, Py_ssize_t row_step,
                                    Py_ssize_t pixel_step, bint tiled) noexcept nogil:
    """_max_grad_row's window for fewer than MAX_GRAD_BLOCK channels, through memory."""
    cdef:
        Py_ssize_t ih, iw, j, at
        floating best_t[MAX_GRAD_BLOCK]
        floating best[MAX_GRAD_BLOCK]
        floating t = 0, v
        bint take
    for j in range(width):
        best[j] = x_window[j]
        best_t[j] = 0
    for ih in range(rows):
        for iw in range(cols):
            at = ih * row_step + iw * pixel_step
            for j in range(width):
                v = x_window[at + j]
                take = (v > best[j]) | ((v != v) & (best[j] == best[j]))
                best[j] = v if take else best[j]
                best_t[j] = t if take else best_t[j]
            t += 1
    t = 0
    for ih in range(rows):
        for iw in range(cols):
            at = ih * row_step + iw * pixel_step
            if tiled:
                for j in range(width):
                    dx_window[at + j] = dy_px[j] if best_t[j] == t else 0
            else:
                for j in range(width):
                    dx_window[at + j] += dy_px[j] if best_t[j] == t else 0
            t += 1


cdef void _max_grad_row(const floating* x_image, const floating* dy_row, floating* dx_image,
                        const Window* g, Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t width,
                        bint tiled) noexcept nogil:
    """One output row of windows, ``width`` channels of them (the pointers start at the
    first channel): each window's dy goes to its first maxima, written to dx where
    windows tile the image, added to it where they may overlap.

    Window by window (a row of one block at a time read x's pixels in parts, and ran
    1.5x slower from memory), in blocks of MAX_GRAD_BLOCK channels. Channels past the
    last whole block go in one more block that ends at the last channel and overlaps
    the one before: its overlapped lanes write what that block wrote where windows
    tile, and add +0.0 elsewhere. Fewer channels than a block go through memory."""
    cdef:
        Py_ssize_t ow, w0, w1, ih, iw, j, at, b, c, overlap
        Py_ssize_t row_step = g.in_w * g.in_c, pixel_step = g.in_c
        Py_ssize_t n_blocks = (width + MAX_GRAD_BLOCK - 1) // MAX_GRAD_BLOCK
        floating best_t[MAX_GRAD_BLOCK]   # the maxima's places in the window, row-major
        floating best[MAX_GRAD_BLOCK]
        floating dy_block[MAX_GRAD_BLOCK]
        floating t, v
        bint take
        const floating* x_window
        floating* dx_window
        const char* ahead
        const char* ahead_end
        Py_ssize_t ahead_w
        # From the first pixel a window ahead adds to the window before it (with stride
        # <= pool) to the item's last channel of stride_w pixels on.
        Py_ssize_t ahead_bytes = ((g.stride_w - 1) * pixel_step + width) * sizeof(floating)
    for ow in range(g.out_w):
        _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
        ahead_w = (ow + MAX_GRAD_PREFETCH_WINDOWS) * g.stride_w - g.pad_left + g.k_w - g.stride_w
        if 0 <= ahead_w and ahead_w + g.stride_w <= g.in_w:
            for ih in range(h0, h1):
                # Whole cache lines, from the one that holds the range's first byte.
                ahead = <const char*> (x_image + ih * row_step + ahead_w * pixel_step)
                ahead_end = ahead + ahead_bytes
                ahead = <const char*> (<size_t> ahead & ~(<size_t> 63))
                while ahead < ahead_end:
                    fc_prefetch(ahead)
                    ahead += 64
        if width < MAX_GRAD_BLOCK:
            at = h0 * row_step + w0 * pixel_step
            _max_grad_window_narrow(x_image + at, dy_row + ow * g.in_c, dx_image + at, width,
                               h1 - h0, w1 - w0, row_step, pixel_step, tiled)
            continue
        for b in range(n_blocks):
            c = min(b * MAX_GRAD_BLOCK, width - MAX_GRAD_BLOCK)
            overlap = b * MAX_GRAD_BLOCK - c   # lanes the block before took (the last block)
            x_window = x_image + h0 * row_step + w0 * pixel_step + c
            dx_window = dx_image + h0 * row_step + w0 * pixel_step + c
            for j in range(MAX_GRAD_BLOCK):
                best[j] = x_window[j]
                best_t[j] = 0
            # The first maximum in row-major order wins: only a strictly greater value
            # replaces it, and a NaN replaces a number but not an earlier NaN. Selects,
            # not branches, so that the channel loop vectorizes; the winner is kept as its
            # place t in the window, a float like the values, so that every select is on
            # float lanes (int offsets cost AVX2 conversions).
            t = 0
            for ih in range(h1 - h0):
                for iw in range(w1 - w0):
                    at = ih * row_step + iw * pixel_step
                    for j in range(MAX_GRAD_BLOCK):
                        v = x_window[at + j]
                        take = (v > best[j]) | ((v != v) & (best[j] == best[j]))
                        best[j] = v if take else best[j]
                        best_t[j] = t if take else best_t[j]
                    t += 1
            if tiled or overlap == 0:
                for j in range(MAX_GRAD_BLOCK):
                    dy_block[j] = dy_row[ow * g.in_c + c + j]
            else:
                for j in range(MAX_GRAD_BLOCK):
                    dy_block[j] = dy_row[ow * g.in_c + c + j] if j >= overlap else 0
            # Every pixel of the window takes dy where it is the maximum, and +0.0 (which
            # changes no sum: dx never holds -0.0) elsewhere: whole vectors, where a
            # scatter to the maxima ran one lane at a time.
            t = 0
            for ih in range(h1 - h0):
                for iw in range(w1 - w0):
                    at = ih * row_step + iw * pixel_step
                    if tiled:
                        for j in range(MAX_GRAD_BLOCK):
                            dx_window[at + j] = dy_block[j] if best_t[j] == t else 0
                    else:
                        for j in range(MAX_GRAD_BLOCK):
                            dx_window[at + j] += dy_block[j] if best_t[j] == t else 0
                    t += 1


cdef void _pool_grad_item(const floating* x, const floating* dy, floating* dx, Window* g,
                          Py_ssize_t item, Py_ssize_t n_parts, Py_ssize_t part_channels,
                          bint take_max) noexcept nogil:
    """dx[n, :, :, c0:c1] for one (image, part of the channels) work item.

    Output row by output row: the dx rows a row's windows reach first are zeroed just
    before, so that they are still in cache when the windows add to them (zeroing the
    whole image first sent it to memory and back)."""
    cdef:
        Py_ssize_t n = item // n_parts
        Py_ssize_t c0 = (item % n_parts) * part_channels
        Py_ssize_t width = min(part_channels, g.in_c - c0)
        Py_ssize_t ih, iw, oh, ow, h0, h1, w0, w1, j, offset, zeroed = 0
        # Windows that tile the image (2x2 stride 2 on an even size): every dx value is
        # in one window, which writes it; nothing to zero, nothing to add to.
        bint tiled = (g.stride_h == g.k_h and g.stride_w == g.k_w
                      and (g.out_h - 1) * g.stride_h - g.pad_top + g.k_h >= g.in_h
                      and (g.out_w - 1) * g.stride_w - g.pad_left + g.k_w >= g.in_w)
        floating scale
        const floating* dy_px
        const floating* dy_row
        const floating* x_image = x + pixel_offset(g, n, 0, 0) + c0
        floating* dx_image = dx + pixel_offset(g, n, 0, 0) + c0
    for oh in range(g.out_h):
        _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
        while zeroed < h1 and not tiled:
            _zero_row(dx_image, g, zeroed, width)
            zeroed += 1
        dy_row = dy + (n * g.out_h + oh) * g.out_w * g.in_c + c0
        if take_max:
            _max_grad_row(x_image, dy_row, dx_image, g, h0, h1, width, tiled)
            continue
        # The forward pass computes scale * sum over the real pixels, so each real
        # pixel's gradient is scale * dy.
        for ow in range(g.out_w):
            _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
            dy_px = dy_row + ow * g.in_c
            scale = 1.0 / ((h1 - h0) * (w1 - w0))
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    offset = pixel_offset(g, 0, ih, iw)
                    if tiled:
                        for j in range(width):
                            dx_image[offset + j] = dy_px[j] * scale
                    else:
                        for j in range(width):
                            dx_image[offset + j] += dy_px[j] * scale
    while zeroed < g.in_h and not tiled:
        _zero_row(dx_image, g, zeroed, width)
        zeroed += 1


cdef int _pool_grad(const floating* x, const floating[:, :, :, ::1] dy,
                    floating[:, :, :, ::1] dx, tuple pool_size, tuple stride,
                    tuple pad_top_left, int n_threads, Py_ssize_t part_channels,
                    bint take_max) except -1:
    cdef Window g = make_window(dx.shape, dy.shape, pool_size, stride, (1, 1), pad_top_left, 1)
    check_pool_contract(&g)
    if dx.shape[0] != dy.shape[0] or n_threads < 1 or part_channels < 1:
        raise ValueError("kernel contract: dx and dy batch sizes differ, n_threads < 1 or "
                         "part_channels < 1")
    if take_max and min(g.k_h, g.in_h) * min(g.k_w, g.in_w) >= 2**24:
        # The maxima's places in a window are floats (see _max_grad_row), exact
        # below 2**24 (float32's integers): a window of 4096 x 4096 pixels or more.
        raise ValueError("max_pool2d_grad: pool_size covers 2**24 pixels or more of the "
                         "image; pool in parts")
    cdef Py_ssize_t n_parts = (g.in_c + part_channels - 1) // part_channels
    cdef Py_ssize_t item
    if g.batch * n_parts == 0:
        return 0
    with nogil:
        for item in prange(g.batch * n_parts, num_threads=n_threads, schedule="dynamic"):
            _pool_grad_item(x, &dy[0, 0, 0, 0], &dx[0, 0, 0, 0], &g, item, n_parts,
                            part_channels, take_max)
    return 0


def max_pool2d_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                    floating[:, :, :, ::1] dx, tuple pool_size, tuple stride,
                    tuple pad_top_left, int n_threads, Py_ssize_t part_channels):
    """dx = each window's dy sent to its first maximum (NaN counts as the maximum); the
    work items are images' parts of ``part_channels`` channels."""
    if (x.shape[0] != dx.shape[0] or x.shape[1] != dx.shape[1] or x.shape[2] != dx.shape[2]
            or x.shape[3] != dx.shape[3]):
        raise ValueError("kernel contract: x and dx shapes differ")
    if x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3] == 0:
        return
    _pool_grad(&x[0, 0, 0, 0], dy, dx, pool_size, stride, pad_top_left, n_threads,
               part_channels, True)


def avg_pool2d_grad(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                    tuple pool_size, tuple stride, tuple pad_top_left, int n_threads,
                    Py_ssize_t part_channels):
    """dx = each window's dy shared equally among its real pixels."""
    if dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3] == 0:
        return
    _pool_grad(&dx[0, 0, 0, 0], dy, dx, pool_size, stride, pad_top_left, n_threads,
               part_channels, False)


cdef enum:
    TRANSPOSE_TILE = 16   # channels a side of the tiles the adjoint kernel is copied in


def reversed_adjoint_kernel(const floating[:, :, :, ::1] w, floating[:, :, :, ::1] out,
                            Py_ssize_t groups, int n_threads):
    """out[KH-1-kh, KW-1-kw, o, grp * Ci + c] = w[kh, kw, c, grp * Co + o]: the kernel of
    the correlation over dy that is the gradient in x at stride 1 (taps reversed, each
    group's channel axes swapped), for Ci = C_in/groups and Co = C_out/groups.

    The copy swaps axes of a (Ci, Co) matrix per tap and group, which NumPy does element
    by element down the columns (3.8 ms for 3x3x512x512 against 0.9 for a plain copy,
    longer than ResNet's 7x7 layer itself at batch 1). Here it goes in square tiles that
    stay in L1, a (tap, group, tile row) per work item.
    """
    cdef Py_ssize_t k_h = w.shape[0], k_w = w.shape[1], cin_g = w.shape[2], c_out = w.shape[3]
    if (groups < 1 or c_out % groups or n_threads < 1 or out.shape[0] != k_h
            or out.shape[1] != k_w or out.shape[2] != c_out // groups
            or out.shape[3] != groups * cin_g):
        raise ValueError("kernel contract: out must be (KH, KW, C_out/groups, groups * "
                         "C_in/groups) for groups dividing C_out, and n_threads >= 1")
    cdef Py_ssize_t cout_g = c_out // groups, row = groups * cin_g
    cdef Py_ssize_t tile_rows = (cin_g + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE
    cdef Py_ssize_t items = k_h * k_w * groups * tile_rows, item, tap, grp, c0, c1, c, o
    cdef Py_ssize_t o_tile, o0, o1
    cdef const floating* src
    cdef floating* dst
    if cout_g == 0 or cin_g == 0:
        return
    with nogil:
        for item in prange(items, num_threads=n_threads, schedule="static"):
            tap = item // (groups * tile_rows)
            grp = item // tile_rows % groups
            c0 = item % tile_rows * TRANSPOSE_TILE
            c1 = min(c0 + TRANSPOSE_TILE, cin_g)
            src = &w[0, 0, 0, 0] + tap * cin_g * c_out + grp * cout_g
            dst = &out[0, 0, 0, 0] + (k_h * k_w - 1 - tap) * cout_g * row + grp * cin_g
            for o_tile in range((cout_g + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE):
                o0 = o_tile * TRANSPOSE_TILE
                o1 = min(o0 + TRANSPOSE_TILE, cout_g)
                for c in range(c0, c1):
                    for o in range(o0, o1):
                        dst[o * row + c] = src[c * c_out + o]
