"""Direct convolution: a loop nest over NHWC data, innermost over contiguous C_out.

Every (kh, kw, c_in) tap broadcasts one input value against a contiguous row of
the HWIO kernel (w[kh, kw, c_in, :]), packed into panels of the block's width.
Output pixels are computed in register blocks of MR pixels x NR channels (a table
of shapes, each a micro-kernel in fastconv_microkernel.h), so each kernel row
loaded is used by every pixel of the block; a block runs its whole reduction (or
a slice of it that stays in cache) as one loop over a table of tap offsets, so its
accumulators stay in registers. Depthwise layers and one-channel images have their
own loops. Padding is never materialised: taps in the padding are skipped or read
a zero pixel, which is the same as multiplying by zero.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset

cdef extern from "fastconv_config.h" nogil:
    double fc_fma(double a, double b, double c)
    float fc_fmaf(float a, float b, float c)
    void* fc_aligned_alloc(size_t bytes)
    void* fc_aligned_calloc(size_t count, size_t size)
    void fc_aligned_free(void* p)

from fastconv._geometry cimport (Window, check_conv_contract, input_col, input_row, inside,
                                 make_window, pixel_offset, source_col, source_row)


cdef inline floating _madd(floating a, floating b, floating c) noexcept nogil:
    """a * b + c, rounded as every kernel path of this build rounds it (fastconv_config.h)."""
    if floating is float:
        return fc_fmaf(a, b, c)
    else:
        return fc_fma(a, b, c)


cdef inline void _axpy(Py_ssize_t n, floating a, const floating* x, floating* y) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = _madd(a, x[i], y[i])


cdef inline void _multiply_add(Py_ssize_t n, const floating* x, const floating* w,
                               floating* y) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = _madd(x[i], w[i], y[i])


# Register block of the multi-channel kernel: WIDE_PIX_BLOCK output pixels x COUT_BLOCK
# output channels accumulate in registers while each kernel row
# w[kh, kw, c, co0:co0 + COUT_BLOCK] is loaded once and used WIDE_PIX_BLOCK times. Both
# are set per SIMD build (this file is compiled once per level) and COUT_BLOCK per dtype
# in fastconv_microkernel.h; powers of two, so that common channel counts leave no slow
# tail.
cdef extern from "fastconv_microkernel.h" nogil:
    enum:
        COUT_BLOCK_F32 "FC_COUT_BLOCK_F32"
        COUT_BLOCK_F64 "FC_COUT_BLOCK_F64"
        WIDE_PIX_BLOCK "FC_WIDE_PIXELS"
        WIDE_SLICE_BYTES "FC_WIDE_SLICE_BYTES"
    # Column blocks (see the header): pixels per block, one kernel per channel count.
    enum:
        COLUMN_PIXELS_F32 "FC_COLUMN_PIXELS_f32"
        COLUMN_PIXELS_F64 "FC_COLUMN_PIXELS_f64"
    void columns_4_f32 "fc_columns_4_f32"(const float* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const float* w, const float* bias, float* block)
    void columns_4_f64 "fc_columns_4_f64"(const double* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const double* w, const double* bias, double* block)
    void columns_2_f32 "fc_columns_2_f32"(const float* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const float* w, const float* bias, float* block)
    void columns_2_f64 "fc_columns_2_f64"(const double* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const double* w, const double* bias, double* block)
    void columns_1_f32 "fc_columns_1_f32"(const float* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const float* w, const float* bias, float* block)
    void columns_1_f64 "fc_columns_1_f64"(const double* rows, const Py_ssize_t* tap_offsets,
        Py_ssize_t n_taps, const double* w, const double* bias, double* block)
    # Depthwise sweeps (see the header): the wide (else narrow) depthwise block's sweep
    # for a kernel width, stride and column dilation, or NULL.
    ctypedef void (*dw_sweep_fn_f32 "fc_dw_sweep_fn_f32")(const float* x_row,
        Py_ssize_t first_col, Py_ssize_t in_w, Py_ssize_t pix_step, Py_ssize_t row_step,
        Py_ssize_t k_h, const float* w, Py_ssize_t w_step, const float* init, float* out,
        Py_ssize_t out_step, Py_ssize_t channels)
    ctypedef void (*dw_sweep_fn_f64 "fc_dw_sweep_fn_f64")(const double* x_row,
        Py_ssize_t first_col, Py_ssize_t in_w, Py_ssize_t pix_step, Py_ssize_t row_step,
        Py_ssize_t k_h, const double* w, Py_ssize_t w_step, const double* init, double* out,
        Py_ssize_t out_step, Py_ssize_t channels)
    dw_sweep_fn_f32 dw_sweep_f32 "fc_dw_sweep_f32"(bint wide, Py_ssize_t k_w,
        Py_ssize_t stride, Py_ssize_t dil)
    dw_sweep_fn_f64 dw_sweep_f64 "fc_dw_sweep_f64"(bint wide, Py_ssize_t k_w,
        Py_ssize_t stride, Py_ssize_t dil)
    # Grouped blocks (see the header): available on builds with a lane permute.
    bint HAS_GROUPED "FC_HAS_GROUPED"
    enum:
        LANES_F32 "FC_LANES_f32"
        VECTOR_REGS "FC_VECTOR_REGS"
        LANES_F64 "FC_LANES_f64"
    void grouped_wide_f32 "fc_grouped_wide_f32"(const float** x_pixels, const float** w_rows,
        Py_ssize_t n_runs, Py_ssize_t group, Py_ssize_t w_r_stride, Py_ssize_t channels,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void grouped_wide_f64 "fc_grouped_wide_f64"(const double** x_pixels, const double** w_rows,
        Py_ssize_t n_runs, Py_ssize_t group, Py_ssize_t w_r_stride, Py_ssize_t channels,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    # The vectorised tap loops of the register blocks, one per shape (see the header).
    void taps_wide_f32 "fc_taps_wide_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_wide_f32 "fc_gather_wide_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_wide_f64 "fc_taps_wide_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_wide_f64 "fc_gather_wide_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_narrow_f32 "fc_taps_narrow_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_narrow_f32 "fc_gather_narrow_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_narrow_f64 "fc_taps_narrow_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_narrow_f64 "fc_gather_narrow_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_narrow_tail_f32 "fc_taps_narrow_tail_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_narrow_tail_f32 "fc_gather_narrow_tail_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_narrow_tail_f64 "fc_taps_narrow_tail_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_narrow_tail_f64 "fc_gather_narrow_tail_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_panel4_f32 "fc_taps_panel4_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_panel4_f32 "fc_gather_panel4_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_panel4_f64 "fc_taps_panel4_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_panel4_f64 "fc_gather_panel4_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_short_panel4_f32 "fc_taps_short_panel4_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_short_panel4_f32 "fc_gather_short_panel4_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_short_panel4_f64 "fc_taps_short_panel4_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_short_panel4_f64 "fc_gather_short_panel4_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_panel8_f32 "fc_taps_panel8_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_panel8_f32 "fc_gather_panel8_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_panel8_f64 "fc_taps_panel8_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_panel8_f64 "fc_gather_panel8_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void taps_short_panel8_f32 "fc_taps_short_panel8_f32"(const float** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const float* w, Py_ssize_t w_stride, const float* init,
        Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void gather_short_panel8_f32 "fc_gather_short_panel8_f32"(const float** x_pixels, const float** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const float* init, Py_ssize_t init_stride, float* out, Py_ssize_t out_stride)
    void taps_short_panel8_f64 "fc_taps_short_panel8_f64"(const double** x_pixels, const Py_ssize_t* offsets,
        Py_ssize_t n_taps, const double* w, Py_ssize_t w_stride, const double* init,
        Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)
    void gather_short_panel8_f64 "fc_gather_short_panel8_f64"(const double** x_pixels, const double** w_rows,
        const Py_ssize_t* n_channels, Py_ssize_t n_runs, Py_ssize_t w_stride,
        const double* init, Py_ssize_t init_stride, double* out, Py_ssize_t out_stride)

    # Sweep kernels (see the header): a block along one row of a layer with few input
    # channels, each input value broadcast once for all the kernel columns that read it.
    # They return 0 for a kernel width, stride and channel count they have no kernel for.
    enum:
        SWEEP_NARROW "FC_SWEEP_NARROW"
        SWEEP_NARROW_TAIL "FC_SWEEP_NARROW_TAIL"
        SWEEP_PANEL4 "FC_SWEEP_PANEL4"
        SWEEP_SHORT_PANEL4 "FC_SWEEP_SHORT_PANEL4"
        SWEEP_PANEL8 "FC_SWEEP_PANEL8"
        SWEEP_SHORT_PANEL8 "FC_SWEEP_SHORT_PANEL8"
    bint sweep_f32 "fc_sweep_f32"(int shape, Py_ssize_t k_w, Py_ssize_t stride,
        Py_ssize_t channels, const float* x, Py_ssize_t row_step, Py_ssize_t k_h,
        const float* w, Py_ssize_t w_stride, const float* init, Py_ssize_t init_stride,
        float* out, Py_ssize_t out_stride)
    bint sweep_f64 "fc_sweep_f64"(int shape, Py_ssize_t k_w, Py_ssize_t stride,
        Py_ssize_t channels, const double* x, Py_ssize_t row_step, Py_ssize_t k_h,
        const double* w, Py_ssize_t w_stride, const double* init, Py_ssize_t init_stride,
        double* out, Py_ssize_t out_stride)

# Register block shapes (MR pixels x NR output channels), one table for every SIMD build:
# NR is a fraction of COUT_BLOCK (the build's widest block), MR is chosen so that each
# shape keeps about the same number of accumulators in registers.
#   wide         6 x COUT_BLOCK       full channel blocks of wide layers (4 x without AVX2)
#   narrow       8 x COUT_BLOCK / 2   half a block left (3x3x1x32 on AVX-512)
#   narrow tail  4 x COUT_BLOCK / 2   a row's last few pixels of a narrow layer
#   panel 1/2    8 x COUT_BLOCK / 2   \
#   panel 1/4   16 x COUT_BLOCK / 4    } a group's remaining channels (C_out 3..48, grouped
#   panel 1/8   16 x COUT_BLOCK / 8    } layers), read from a zero-padded packed panel
#   short 1/2..1/8  4 x the same      / rows narrower than a panel block (LeNet, 7x7 maps)
# Each shape's tap loop is a micro-kernel of fastconv_microkernel.h (_vector_taps).
# Panels store only their valid channels. COUT_BLOCK_MAX and PIX_BLOCK_MAX bound the
# accumulator array.
cdef enum:
    MAX_TAP_TABLE = 1 << 16     # entries of the tap-offset table (see conv2d_direct)
    MAX_RUNS = 32               # a border block's tap runs per gather call (_add_taps_block)
    L1_WEIGHT_BYTES = 24 << 10  # a slice of a block's weights that stays in L1 (_band_of_blocks)
    BAND_PIXELS = 64            # the shortest band of output pixels (_band_geometry)
    # A border block's padded window (_padded_window): channels per group below which it
    # replaces the gather runs, and the largest window (values) and tap count it takes.
    WINDOW_MAX_CHANNELS = 16
    WINDOW_MAX_VALUES = 2048
    WINDOW_MAX_TAPS = 512
    BAND_MAJOR_WEIGHT_BYTES = 256 << 10  # weights that leave bands part-major (conv2d_direct)
    THREADED_PACK_BYTES = 256 << 10  # weights packed by all the call's threads (conv2d_direct)
    PIX_BLOCK = 4
    NARROW_PIX_BLOCK = 8
    PANEL_PIX_BLOCK = 16
    PIX_BLOCK_MAX = 16
    COUT_BLOCK_MAX = 64


# The register block's shape, as a compile-time choice: each specialisation of
# _add_taps_block gets constant loop bounds, which the C compiler needs to keep the
# accumulators in registers.
ctypedef struct WideBlock:
    char unused
ctypedef struct NarrowBlock:
    char unused
ctypedef struct NarrowTailBlock:
    char unused
ctypedef struct Panel2Block:
    char unused
ctypedef struct Panel4Block:
    char unused
ctypedef struct Panel8Block:
    char unused
ctypedef struct ShortPanel2Block:
    char unused
ctypedef struct ShortPanel4Block:
    char unused
ctypedef struct ShortPanel8Block:
    char unused
ctypedef fused block_shape:
    WideBlock
    NarrowBlock
    NarrowTailBlock
    Panel2Block
    Panel4Block
    Panel8Block
    ShortPanel2Block
    ShortPanel4Block
    ShortPanel8Block

# Depthwise register blocks (pixels x channels, each channel its own weight):
# 4 x COUT_BLOCK, then 8 x COUT_BLOCK / 2 and 16 x COUT_BLOCK / 4 for the channels left.
ctypedef fused depthwise_shape:
    WideBlock
    NarrowBlock
    Panel4Block


cdef inline void _block_dims(block_shape* shape, Py_ssize_t cout_block_max,
                             Py_ssize_t* pix_block, Py_ssize_t* cout_block) noexcept nogil:
    """The shape table: (MR pixels, NR channels) of each register block, NR as a fraction
    of the build's COUT_BLOCK. Compile-time constants in each specialisation."""
    if block_shape is WideBlock:
        pix_block[0], cout_block[0] = WIDE_PIX_BLOCK, cout_block_max
    elif block_shape is NarrowBlock:
        pix_block[0], cout_block[0] = NARROW_PIX_BLOCK, cout_block_max // 2
    elif block_shape is NarrowTailBlock:
        pix_block[0], cout_block[0] = PIX_BLOCK, cout_block_max // 2
    elif block_shape is Panel2Block:
        pix_block[0], cout_block[0] = NARROW_PIX_BLOCK, cout_block_max // 2
    elif block_shape is Panel4Block:
        pix_block[0], cout_block[0] = PANEL_PIX_BLOCK, cout_block_max // 4
    elif block_shape is Panel8Block:
        pix_block[0], cout_block[0] = PANEL_PIX_BLOCK, cout_block_max // 8
    elif block_shape is ShortPanel2Block:
        pix_block[0], cout_block[0] = PIX_BLOCK, cout_block_max // 2
    elif block_shape is ShortPanel4Block:
        pix_block[0], cout_block[0] = PIX_BLOCK, cout_block_max // 4
    else:
        pix_block[0], cout_block[0] = PIX_BLOCK, cout_block_max // 8


cdef inline void _vector_taps(block_shape* shape, const floating** x_pixels,
                              const Py_ssize_t* offsets, Py_ssize_t n_taps, const floating* w,
                              Py_ssize_t w_stride, const floating* init,
                              Py_ssize_t init_stride, floating* out,
                              Py_ssize_t out_stride) noexcept nogil:
    """out[p] = init[p] + sum over t < n_taps of x_pixels[p][offsets[t]] * w[t * w_stride:]
    for the block's MR pixels and NR channels (rows init_stride and out_stride apart):
    the tap micro-kernel of this block shape, from fastconv_microkernel.h."""
    if block_shape is WideBlock:
        if floating is float:
            taps_wide_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_wide_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is NarrowBlock:
        if floating is float:
            taps_narrow_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is NarrowTailBlock:
        if floating is float:
            taps_narrow_tail_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_tail_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel2Block:
        if floating is float:
            taps_narrow_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is ShortPanel2Block:
        if floating is float:
            taps_narrow_tail_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_narrow_tail_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel4Block:
        if floating is float:
            taps_panel4_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_panel4_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is ShortPanel4Block:
        if floating is float:
            taps_short_panel4_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_short_panel4_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel8Block:
        if floating is float:
            taps_panel8_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_panel8_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
    else:
        if floating is float:
            taps_short_panel8_f32(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)
        else:
            taps_short_panel8_f64(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out, out_stride)


cdef inline bint _sweep_taps(block_shape* shape, Window* g, Py_ssize_t t_lo,
                             Py_ssize_t t_hi, const floating* x, Py_ssize_t row_step,
                             const floating* w, Py_ssize_t w_stride, const floating* init,
                             Py_ssize_t init_stride, floating* out,
                             Py_ssize_t out_stride) noexcept nogil:
    """Taps [t_lo, t_hi) of a block along one output row, through this shape's sweep
    kernel (fastconv_microkernel.h): the same sums in the same order as _vector_taps.
    x is the first pixel's window corner, in the image or in a padded window, its kernel
    rows row_step apart. Only for the whole reduction, one group and no column dilation;
    False, having done nothing, where no sweep kernel fits or pays (a slice of the taps,
    the wide block, other kernel widths, strides and channel counts; the header says
    which)."""
    cdef int sweep = -1
    if block_shape is NarrowBlock or block_shape is Panel2Block:
        sweep = SWEEP_NARROW
    elif block_shape is NarrowTailBlock or block_shape is ShortPanel2Block:
        sweep = SWEEP_NARROW_TAIL
    elif block_shape is Panel4Block:
        sweep = SWEEP_PANEL4
    elif block_shape is ShortPanel4Block:
        sweep = SWEEP_SHORT_PANEL4
    elif block_shape is Panel8Block:
        sweep = SWEEP_PANEL8
    elif block_shape is ShortPanel8Block:
        sweep = SWEEP_SHORT_PANEL8
    if (sweep < 0 or g.groups != 1 or g.dil_w != 1 or t_lo != 0
            or t_hi != g.k_h * g.k_w * g.in_c):
        return False
    if floating is float:
        return sweep_f32(sweep, g.k_w, g.stride_w, g.in_c, x, row_step, g.k_h, w, w_stride,
                         init, init_stride, out, out_stride)
    else:
        return sweep_f64(sweep, g.k_w, g.stride_w, g.in_c, x, row_step, g.k_h, w, w_stride,
                         init, init_stride, out, out_stride)


cdef inline void _gather_taps(block_shape* shape, const floating** x_pixels,
                              const floating** w_rows, const Py_ssize_t* n_channels,
                              Py_ssize_t n_runs, Py_ssize_t w_stride, const floating* init,
                              Py_ssize_t init_stride, floating* out,
                              Py_ssize_t out_stride) noexcept nogil:
    """The same block over runs of taps with their own pixel pointers (x_pixels[k * MR + p]),
    weights (w_rows[k]) and channel counts: the gather micro-kernel of this shape."""
    if block_shape is WideBlock:
        if floating is float:
            gather_wide_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_wide_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is NarrowBlock:
        if floating is float:
            gather_narrow_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_narrow_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is NarrowTailBlock:
        if floating is float:
            gather_narrow_tail_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_narrow_tail_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel2Block:
        if floating is float:
            gather_narrow_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_narrow_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is ShortPanel2Block:
        if floating is float:
            gather_narrow_tail_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_narrow_tail_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel4Block:
        if floating is float:
            gather_panel4_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_panel4_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is ShortPanel4Block:
        if floating is float:
            gather_short_panel4_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_short_panel4_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    elif block_shape is Panel8Block:
        if floating is float:
            gather_panel8_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_panel8_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
    else:
        if floating is float:
            gather_short_panel8_f32(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)
        else:
            gather_short_panel8_f64(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride, out, out_stride)


cdef inline void _pixel_taps(const floating* x, const floating* w, const floating* b,
                             floating* o, Window* g, Py_ssize_t n, Py_ssize_t oh,
                             Py_ssize_t ow, Py_ssize_t grp, Py_ssize_t co_begin,
                             Py_ssize_t co_end) noexcept nogil:
    """o[co] = b[co] + sum of taps, for one output pixel's channels [co_begin, co_end) of
    group grp: what register blocks leave over.

    ``o`` and ``b`` point at the pixel's (and the bias's) first channel of the group. Taps
    that fall in the padding are skipped, which is the same as multiplying by zero.
    """
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t kh, kw, ih, iw, ci
        const floating* x_pixel
        const floating* w_tap
    if co_begin >= co_end:
        return
    memcpy(o + co_begin, b + co_begin, (co_end - co_begin) * sizeof(floating))
    for kh in range(g.k_h):
        ih = input_row(g, oh, kh)
        if not inside(ih, g.in_h):
            continue
        for kw in range(g.k_w):
            iw = input_col(g, ow, kw)
            if not inside(iw, g.in_w):
                continue
            x_pixel = x + pixel_offset(g, n, ih, iw) + grp * cin_g
            w_tap = w + (kh * g.k_w + kw) * cin_g * g.out_c + grp * cout_g
            for ci in range(cin_g):
                _axpy(co_end - co_begin, x_pixel[ci], w_tap + ci * g.out_c + co_begin,
                      o + co_begin)


cdef inline void _depthwise_pixel(const floating* x, const floating* w, Py_ssize_t w_stride,
                                  const floating* b, floating* o, Window* g, Py_ssize_t n,
                                  Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t c0,
                                  Py_ssize_t n_channels) noexcept nogil:
    """o[:n_channels] = b[:n_channels] + the taps of one output pixel of a depthwise layer
    (multiplier 1), for channels c0.. : what register blocks and flat rows leave over.
    ``w`` points at channel c0 of tap 0; consecutive taps are ``w_stride`` apart. Taps
    in zero padding are skipped; the window's source maps give the others."""
    cdef Py_ssize_t kh, kw, ih, iw
    memcpy(o, b, n_channels * sizeof(floating))
    for kh in range(g.k_h):
        ih = source_row(g, oh, kh)
        if ih < 0:
            continue
        for kw in range(g.k_w):
            iw = source_col(g, ow, kw)
            if iw >= 0:
                _multiply_add(n_channels, x + pixel_offset(g, n, ih, iw) + c0,
                              w + (kh * g.k_w + kw) * w_stride, o)


cdef inline void _block_pixels(const floating* x, const floating* zeros, Window* g,
                               Py_ssize_t n, Py_ssize_t ih, Py_ssize_t ow0, Py_ssize_t kw,
                               Py_ssize_t channel0, Py_ssize_t n_pixels,
                               const floating** x_pixels) noexcept nogil:
    """Point x_pixels[p] at tap kw's input pixel for output pixel ow0 + p (from channel0),
    or at the zero pixel where that tap falls in the left/right padding."""
    cdef Py_ssize_t p, iw
    for p in range(n_pixels):
        iw = input_col(g, ow0 + p, kw)
        if inside(iw, g.in_w):
            x_pixels[p] = x + pixel_offset(g, n, ih, iw) + channel0
        else:
            x_pixels[p] = zeros


cdef inline void _rows_inside(Window* g, Py_ssize_t first_ih, Py_ssize_t* kh_lo,
                              Py_ssize_t* kh_hi) noexcept nogil:
    """[kh_lo, kh_hi): the kernel rows whose input row first_ih + kh * dil_h lies inside
    the image (empty when none does). Taps in the tap table are ordered by kernel row,
    so these rows' taps are one contiguous range of it."""
    kh_lo[0] = 0 if first_ih >= 0 else min((-first_ih + g.dil_h - 1) // g.dil_h, g.k_h)
    kh_hi[0] = max(0, min(g.k_h, (g.in_h - first_ih + g.dil_h - 1) // g.dil_h))
    if kh_hi[0] < kh_lo[0]:
        kh_hi[0] = kh_lo[0]


cdef inline void _padded_window(const floating* x, Window* g, Py_ssize_t n, Py_ssize_t oh,
                                Py_ssize_t ow0, Py_ssize_t grp, Py_ssize_t span_w,
                                floating* window) noexcept nogil:
    """The input that output pixels (n, oh, ow0 ...) of group grp read, padding included,
    as k_h rows of span_w pixels of C_in/groups channels: zero where the row or column
    lies outside the image. A border block of an RGB layer built a pointer per pixel and
    kernel tap (27 runs of 3 taps) and ran at half the interior's speed."""
    cdef Py_ssize_t cin_g = g.in_c // g.groups, kh, ih, j, c
    cdef Py_ssize_t iw0 = input_col(g, ow0, 0)
    # The columns [j_lo, j_hi) of the span that lie in the image.
    cdef Py_ssize_t j_lo = min(span_w, max(0, -iw0)), j_hi = max(j_lo, min(span_w, g.in_w - iw0))
    cdef floating* dst
    cdef const floating* src
    for kh in range(g.k_h):
        ih = input_row(g, oh, kh)
        dst = window + kh * span_w * cin_g
        if not inside(ih, g.in_h):
            memset(dst, 0, span_w * cin_g * sizeof(floating))
            continue
        memset(dst, 0, j_lo * cin_g * sizeof(floating))
        src = x + pixel_offset(g, n, ih, iw0 + j_lo) + grp * cin_g
        if g.groups == 1:
            memcpy(dst + j_lo * cin_g, src, (j_hi - j_lo) * cin_g * sizeof(floating))
        else:
            for j in range(j_lo, j_hi):
                for c in range(cin_g):
                    dst[j * cin_g + c] = src[c]
                src += g.in_c
        memset(dst + j_hi * cin_g, 0, (span_w - j_hi) * cin_g * sizeof(floating))


cdef inline void _add_taps_block(const floating* x, const floating* w, Py_ssize_t w_stride,
                                 const floating* b, const floating* zeros,
                                 const Py_ssize_t* tap_offsets, floating* o, Window* g,
                                 Py_ssize_t n0, Py_ssize_t oh0, Py_ssize_t ow0,
                                 Py_ssize_t grp, Py_ssize_t n_store,
                                 Py_ssize_t t_lo, Py_ssize_t t_hi, bint accumulate,
                                 block_shape* shape) noexcept nogil:
    """The register block at o: output pixels from (n0, oh0, ow0) on, row after row and
    image after image (a block may span rows and images), a channel block of group grp. Taps [t_lo, t_hi) of
    the reduction (in tap-table order: kernel row, column, channel) are added to the bias
    b, or to o itself when ``accumulate`` (a later slice of the taps).

    ``w`` and ``b`` point at the block's first output channel; consecutive taps' weight
    rows are ``w_stride`` apart (C_out in the kernel itself, NR in a packed panel). Only
    the first ``n_store`` channels are stored (panels are zero-padded to NR). A block whose
    pixels' windows all lie inside the image runs its taps through its shape's tap
    micro-kernel, reading tap t at tap_offsets[t] from each pixel's window corner, so that
    the accumulators stay in registers for the whole reduction.

    A block along one row with few channels per group (RGB) copies its windows into a
    zero-padded ``window`` (see _padded_window) and runs the tap micro-kernel on it.
    Other blocks list each kernel tap (kh, kw) as a run of C_in/groups taps with its own
    pixel pointers, for the gather micro-kernel: pixels whose tap falls in the padding
    read from ``zeros`` (at least C_in/groups long), and runs wholly in the padding are
    skipped.
    """
    cdef:
        Py_ssize_t cin_g = g.in_c if g.groups == 1 else g.in_c // g.groups
        Py_ssize_t kh, kw, ih, iw, t, p, j, r_lo, r_hi, n_runs = 0
        Py_ssize_t init_stride, dst_stride
        Py_ssize_t pix_n[PIX_BLOCK_MAX]
        Py_ssize_t pix_oh[PIX_BLOCK_MAX]
        Py_ssize_t pix_ow[PIX_BLOCK_MAX]
        const floating* run_pixels[MAX_RUNS * PIX_BLOCK_MAX]
        const floating** run
        const floating* run_w[MAX_RUNS]
        Py_ssize_t run_channels[MAX_RUNS]
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        Py_ssize_t pix_block, cout_block
        floating acc[PIX_BLOCK_MAX][COUT_BLOCK_MAX]
        const floating* x_pixels[PIX_BLOCK_MAX]
        const floating* init
        floating* dst
        bint direct_store, flushed = False, interior = tap_offsets != NULL, any_inside
        bint one_row
        Py_ssize_t span_w
        floating window[WINDOW_MAX_VALUES]
        Py_ssize_t window_taps[WINDOW_MAX_TAPS]
    _block_dims(shape, COUT_BLOCK, &pix_block, &cout_block)
    # The kernels read the block's start (the bias, or the partial sum in o) and write it
    # whole; a panel's block, whose zero-padded channels are not stored, goes through acc.
    direct_store = n_store == cout_block
    dst, dst_stride = (o, g.out_c) if direct_store else (&acc[0][0], <Py_ssize_t> COUT_BLOCK_MAX)
    init, init_stride = b, 0
    if accumulate:
        init, init_stride = o, g.out_c
        if not direct_store:
            for p in range(pix_block):
                for j in range(cout_block):
                    acc[p][j] = o[p * g.out_c + j] if j < n_store else 0
            init, init_stride = dst, dst_stride
    # The block's pixels (n, oh, ow): along one row, or stepping from the first one's
    # without dividing when the block spans rows.
    one_row = ow0 + pix_block <= g.out_w
    if one_row:
        interior = (interior and input_row(g, oh0, 0) >= 0
                    and input_row(g, oh0, g.k_h - 1) < g.in_h and input_col(g, ow0, 0) >= 0
                    and input_col(g, ow0 + pix_block - 1, g.k_w - 1) < g.in_w)
        if interior:
            # Short reductions (RGB: 27 taps) spend as long here as in the kernel.
            x_pixels[0] = x + (pixel_offset(g, n0, input_row(g, oh0, 0),
                                            input_col(g, ow0, 0)) + grp * cin_g)
            if _sweep_taps(shape, g, t_lo, t_hi, x_pixels[0], g.dil_h * g.in_w * g.in_c, w,
                           w_stride, init, init_stride, dst, dst_stride):
                _store_panel_block(o, &acc[0][0], g.out_c, pix_block, n_store, direct_store)
                return
            for p in range(1, pix_block):
                x_pixels[p] = x_pixels[p - 1] + g.stride_w * g.in_c
            _vector_taps(shape, x_pixels, tap_offsets + t_lo, t_hi - t_lo,
                         w + t_lo * w_stride, w_stride, init, init_stride, dst, dst_stride)
            _store_panel_block(o, &acc[0][0], g.out_c, pix_block, n_store, direct_store)
            return
        span_w = (pix_block - 1) * g.stride_w + (g.k_w - 1) * g.dil_w + 1
        if (cin_g < WINDOW_MAX_CHANNELS and t_hi - t_lo <= WINDOW_MAX_TAPS
                and g.k_h * span_w * cin_g <= WINDOW_MAX_VALUES):
            _padded_window(x, g, n0, oh0, ow0, grp, span_w, window)
            if _sweep_taps(shape, g, t_lo, t_hi, window, span_w * cin_g, w, w_stride, init,
                           init_stride, dst, dst_stride):
                _store_panel_block(o, &acc[0][0], g.out_c, pix_block, n_store, direct_store)
                return
            t = 0
            for kh in range(g.k_h):
                for kw in range(g.k_w):
                    for j in range(cin_g):
                        if t_lo <= t < t_hi:
                            window_taps[t - t_lo] = (kh * span_w + kw * g.dil_w) * cin_g + j
                        t += 1
            for p in range(pix_block):
                x_pixels[p] = window + p * g.stride_w * cin_g
            _vector_taps(shape, x_pixels, window_taps, t_hi - t_lo, w + t_lo * w_stride,
                         w_stride, init, init_stride, dst, dst_stride)
            _store_panel_block(o, &acc[0][0], g.out_c, pix_block, n_store, direct_store)
            return
        for p in range(pix_block):
            pix_n[p], pix_oh[p], pix_ow[p] = n0, oh0, ow0 + p
    else:
        pix_n[0], pix_oh[0], pix_ow[0] = n0, oh0, ow0
        for p in range(1, pix_block):
            pix_n[p], pix_oh[p], pix_ow[p] = pix_n[p - 1], pix_oh[p - 1], pix_ow[p - 1]
            _step_pixels(g, 1, &pix_n[p], &pix_oh[p], &pix_ow[p])
        for p in range(pix_block):
            if not (input_row(g, pix_oh[p], 0) >= 0
                    and input_row(g, pix_oh[p], g.k_h - 1) < g.in_h
                    and input_col(g, pix_ow[p], 0) >= 0
                    and input_col(g, pix_ow[p], g.k_w - 1) < g.in_w):
                interior = False
    if interior:
        # Window corners; a pixel right of its neighbour in the same row is stride_w on.
        x_pixels[0] = x + (pixel_offset(g, pix_n[0], input_row(g, pix_oh[0], 0),
                                        input_col(g, pix_ow[0], 0)) + grp * cin_g)
        for p in range(1, pix_block):
            if pix_ow[p] == pix_ow[p - 1] + 1:
                x_pixels[p] = x_pixels[p - 1] + g.stride_w * g.in_c
            else:
                x_pixels[p] = x + (pixel_offset(g, pix_n[p], input_row(g, pix_oh[p], 0),
                                                input_col(g, pix_ow[p], 0)) + grp * cin_g)
        _vector_taps(shape, x_pixels, tap_offsets + t_lo, t_hi - t_lo, w + t_lo * w_stride,
                     w_stride, init, init_stride, dst, dst_stride)
    else:
        for kh in range(g.k_h):
            for kw in range(g.k_w):
                t = (kh * g.k_w + kw) * cin_g
                r_lo, r_hi = max(0, t_lo - t), min(cin_g, t_hi - t)
                if r_lo >= r_hi:
                    continue
                run = run_pixels + n_runs * pix_block
                any_inside = False
                for p in range(pix_block):
                    ih = input_row(g, pix_oh[p], kh)
                    iw = input_col(g, pix_ow[p], kw)
                    if inside(ih, g.in_h) and inside(iw, g.in_w):
                        run[p] = x + pixel_offset(g, pix_n[p], ih, iw) + grp * cin_g + r_lo
                        any_inside = True
                    else:
                        run[p] = zeros
                if not any_inside:
                    continue
                run_w[n_runs] = w + (t + r_lo) * w_stride
                run_channels[n_runs] = r_hi - r_lo
                n_runs += 1
                if n_runs == MAX_RUNS:
                    _gather_taps(shape, run_pixels, run_w, run_channels, n_runs, w_stride,
                                 init, init_stride, dst, dst_stride)
                    init, init_stride = dst, dst_stride
                    n_runs = 0
                    flushed = True
        if n_runs or not flushed:
            _gather_taps(shape, run_pixels, run_w, run_channels, n_runs, w_stride, init,
                         init_stride, dst, dst_stride)
    _store_panel_block(o, &acc[0][0], g.out_c, pix_block, n_store, direct_store)


cdef inline void _store_panel_block(floating* o, const floating* acc, Py_ssize_t out_c,
                                    Py_ssize_t pix_block, Py_ssize_t n_store,
                                    bint direct_store) noexcept nogil:
    """A panel's block, computed in acc (rows COUT_BLOCK_MAX apart), to its n_store valid
    channels of o; nothing when the kernel stored to o directly."""
    cdef Py_ssize_t p, j
    if not direct_store:
        for p in range(pix_block):
            for j in range(n_store):
                o[p * out_c + j] = acc[p * COUT_BLOCK_MAX + j]


cdef inline void _depthwise_block(const floating* x, const floating* w, const floating* b,
                                  const floating* zeros, const Py_ssize_t* tap_offsets,
                                  floating* o, Window* g, Py_ssize_t n, Py_ssize_t oh,
                                  Py_ssize_t ow0, Py_ssize_t c0,
                                  depthwise_shape* shape) noexcept nogil:
    """Depthwise (one input channel per output channel): the block of pixels ow0.. and
    channels c0.. (its shape from depthwise_shape) from the bias b (at c0), each channel
    multiplied by its own kernel value. Blocks inside the image horizontally run their
    taps as one loop over tap_offsets, as in _add_taps_block."""
    cdef:
        Py_ssize_t first_ih = input_row(g, oh, 0)
        Py_ssize_t first_iw = input_col(g, ow0, 0)
        Py_ssize_t kh, kw, ih, p, j, t, offset, kh_lo, kh_hi, t_begin, t_end
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        Py_ssize_t pix_block, cout_block
        floating acc[PIX_BLOCK_MAX][COUT_BLOCK_MAX]
        const floating* x_pixels[PIX_BLOCK_MAX]
        const floating* w_row
    if depthwise_shape is WideBlock:
        pix_block, cout_block = PIX_BLOCK, COUT_BLOCK
    elif depthwise_shape is NarrowBlock:
        pix_block, cout_block = NARROW_PIX_BLOCK, COUT_BLOCK // 2
    else:
        pix_block, cout_block = PANEL_PIX_BLOCK, COUT_BLOCK // 4
    for p in range(pix_block):
        for j in range(cout_block):
            acc[p][j] = b[j]
    if (tap_offsets != NULL and first_iw >= 0
            and input_col(g, ow0 + pix_block - 1, g.k_w - 1) < g.in_w):
        _rows_inside(g, first_ih, &kh_lo, &kh_hi)
        t_begin, t_end = kh_lo * g.k_w, kh_hi * g.k_w
        if t_begin < t_end:
            for p in range(pix_block):
                x_pixels[p] = x + (pixel_offset(g, n, input_row(g, oh, kh_lo),
                                                input_col(g, ow0 + p, 0))
                                   + c0 - tap_offsets[t_begin])
        w_row = w + t_begin * g.out_c + c0
        for t in range(t_begin, t_end):
            offset = tap_offsets[t]
            for p in range(pix_block):
                for j in range(cout_block):
                    acc[p][j] = _madd(x_pixels[p][offset + j], w_row[j], acc[p][j])
            w_row += g.out_c
    else:
        for kh in range(g.k_h):
            ih = input_row(g, oh, kh)
            if not inside(ih, g.in_h):
                continue
            for kw in range(g.k_w):
                _block_pixels(x, zeros, g, n, ih, ow0, kw, c0, pix_block, x_pixels)
                w_row = w + (kh * g.k_w + kw) * g.out_c + c0
                for p in range(pix_block):
                    for j in range(cout_block):
                        acc[p][j] = _madd(x_pixels[p][j], w_row[j], acc[p][j])
    for p in range(pix_block):
        for j in range(cout_block):
            o[p * g.out_c + j] = acc[p][j]


cdef enum:
    # Stride-1 depthwise layers whose channels do not fill whole blocks run as masked
    # sweeps rather than flat rows from this kernel width and channel count up. Measured
    # on (4,56,56,C) and (4,14,14,C), C = 8..672: 5x5 and 7x7 kernels ran 1.1-2.2x
    # faster as sweeps, 3x3 ones 0.6-1.3x (flat pairs share their rows), and C below 8
    # leaves most lanes of a masked vector empty.
    SWEEP_MIN_KERNEL_WIDTH = 5
    SWEEP_MIN_CHANNELS = 8


cdef inline bint _has_depthwise_sweep(Py_ssize_t k_w, Py_ssize_t stride_w, Py_ssize_t dil_w,
                                      bint wide, bint f32) noexcept nogil:
    """Whether the build has a depthwise sweep (fastconv_microkernel.h) of the wide (else
    narrow) block for this kernel width, stride and column dilation."""
    if f32:
        return dw_sweep_f32(wide, k_w, stride_w, dil_w) != NULL
    return dw_sweep_f64(wide, k_w, stride_w, dil_w) != NULL


cdef inline void _depthwise_sweep(const floating* x, const floating* w, const floating* b,
                                  floating* o, Window* g, Py_ssize_t n, Py_ssize_t oh,
                                  Py_ssize_t ow0, Py_ssize_t c0, bint wide,
                                  Py_ssize_t channels) noexcept nogil:
    """The wide (else narrow) depthwise block at pixels ow0.. and channels
    [c0, c0 + channels) as a depthwise sweep over the kernel rows inside the image; the
    caller has checked _has_depthwise_sweep. A narrow block's sweep is only called with
    its row at least NARROW_PIX_BLOCK wide, as _depthwise_row calls it. Sweeps and the
    tap loop (_depthwise_block) skip the rows outside and multiply the columns outside
    by zeros, in the same order: the same bits. On 14x14 maps, a 7x7 kernel's blocks all
    but one reach the padding."""
    cdef Py_ssize_t kh_lo, kh_hi
    cdef const floating* x_row = x
    _rows_inside(g, input_row(g, oh, 0), &kh_lo, &kh_hi)
    if kh_lo < kh_hi:
        x_row = x + pixel_offset(g, n, input_row(g, oh, kh_lo), 0) + c0
        w = w + kh_lo * g.k_w * g.out_c + c0
    if floating is float:
        dw_sweep_f32(wide, g.k_w, g.stride_w, g.dil_w)(
            x_row, input_col(g, ow0, 0), g.in_w, g.in_c, g.dil_h * g.in_w * g.in_c,
            kh_hi - kh_lo, w, g.out_c, b, o, g.out_c, channels)
    else:
        dw_sweep_f64(wide, g.k_w, g.stride_w, g.dil_w)(
            x_row, input_col(g, ow0, 0), g.in_w, g.in_c, g.dil_h * g.in_w * g.in_c,
            kh_hi - kh_lo, w, g.out_c, b, o, g.out_c, channels)


cdef inline void _depthwise_sweeps(const floating* x, const floating* w, const floating* bias,
                                   floating* o_row, Window* g, Py_ssize_t n, Py_ssize_t oh,
                                   bint wide, Py_ssize_t c_lo, Py_ssize_t c_hi) noexcept nogil:
    """Channels [c_lo, c_hi) of depthwise row (n, oh) as sweeps of the wide (else narrow)
    block, along the row, channel blocks innermost, the last one masked. The row is at
    least one block wide."""
    cdef:
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        Py_ssize_t pix_block = PIX_BLOCK if wide else NARROW_PIX_BLOCK
        Py_ssize_t cout_block = COUT_BLOCK if wide else COUT_BLOCK // 2
        Py_ssize_t block, co_block, co0, ow
    for block in range((g.out_w + pix_block - 1) // pix_block):
        ow = _block_start(block, pix_block, g.out_w)
        for co_block in range((c_hi - c_lo + cout_block - 1) // cout_block):
            co0 = c_lo + co_block * cout_block
            _depthwise_sweep(x, w, bias + co0, o_row + ow * g.out_c + co0, g, n, oh, ow, co0,
                             wide, min(cout_block, c_hi - co0))


cdef inline Py_ssize_t _block_start(Py_ssize_t block, Py_ssize_t pix_block,
                                    Py_ssize_t out_w) noexcept nogil:
    """First pixel of a row's block'th register block. The last block is moved back to end
    at the row's end: it recomputes a few pixels (blocks write, not accumulate, so that is
    harmless) instead of leaving a tail for the slow per-pixel loop."""
    return min(block * pix_block, out_w - pix_block)


cdef inline void _channel_split(Window* g, Py_ssize_t cout_block, Py_ssize_t band_min,
                                Py_ssize_t* co_full, Py_ssize_t* co_done,
                                Py_ssize_t* panel_nr) noexcept nogil:
    """How a group's output channels are covered: [0, co_full) by wide blocks,
    [co_full, co_done) by one narrow block, [co_done, C_out/groups) by packed panels of
    panel_nr channels (0: per pixel, for bands narrower than a block). The driver packs
    the panels with the same split, so this is the one place that decides it."""
    cdef Py_ssize_t cout_g = g.out_c // g.groups, rest
    co_full[0] = cout_g - cout_g % cout_block if band_min >= WIDE_PIX_BLOCK else 0
    co_done[0] = co_full[0]
    if band_min >= NARROW_PIX_BLOCK and co_full[0] + cout_block // 2 <= cout_g:
        co_done[0] = co_full[0] + cout_block // 2
    rest = cout_g - co_done[0]
    panel_nr[0] = 0
    if rest > 0 and band_min >= PIX_BLOCK:
        if rest <= cout_block // 8:
            panel_nr[0] = cout_block // 8
        elif rest <= cout_block // 4:
            panel_nr[0] = cout_block // 4
        else:
            panel_nr[0] = cout_block // 2


cdef inline void _pixel_coords(Window* g, Py_ssize_t q, Py_ssize_t* n, Py_ssize_t* oh,
                               Py_ssize_t* ow) noexcept nogil:
    """(n, oh, ow) of output pixel q, counted row after row, image after image."""
    ow[0] = q % g.out_w
    oh[0] = (q // g.out_w) % g.out_h
    n[0] = q // (g.out_w * g.out_h)


cdef inline void _step_pixels(Window* g, Py_ssize_t k, Py_ssize_t* n, Py_ssize_t* oh,
                              Py_ssize_t* ow) noexcept nogil:
    """Move (n, oh, ow) k output pixels on."""
    ow[0] += k
    while ow[0] >= g.out_w:
        ow[0] -= g.out_w
        oh[0] += 1
        if oh[0] == g.out_h:
            oh[0] = 0
            n[0] += 1


cdef inline void _band_of_blocks(const floating* x, const floating* w, Py_ssize_t w_stride,
                                 const floating* b, const floating* zeros,
                                 const Py_ssize_t* tap_offsets, floating* o_band, Window* g,
                                 Py_ssize_t start, Py_ssize_t stop, Py_ssize_t grp,
                                 Py_ssize_t n_store, block_shape* shape) noexcept nogil:
    """Output pixels [start, stop) (over the whole batch) in register blocks of one shape,
    for one channel block (``o_band`` at pixel start's first channel of the block, ``b``
    at the block's bias): row by row when blocks stay within rows (_blocks_in_rows, and
    [start, stop) whole rows), else as one run of pixels."""
    cdef Py_ssize_t row_start
    if _blocks_in_rows(g, COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64):
        row_start = start
        while row_start < stop:
            _run_of_blocks(x, w, w_stride, b, zeros, tap_offsets,
                           o_band + (row_start - start) * g.out_c, g, row_start,
                           row_start + g.out_w, grp, n_store, shape)
            row_start += g.out_w
        return
    _run_of_blocks(x, w, w_stride, b, zeros, tap_offsets, o_band, g, start, stop, grp, n_store,
                   shape)


cdef inline void _run_of_blocks(const floating* x, const floating* w, Py_ssize_t w_stride,
                                const floating* b, const floating* zeros,
                                const Py_ssize_t* tap_offsets, floating* o_band, Window* g,
                                Py_ssize_t start, Py_ssize_t stop, Py_ssize_t grp,
                                Py_ssize_t n_store, block_shape* shape) noexcept nogil:
    """Output pixels [start, stop) in register blocks of one shape (see _band_of_blocks):
    the last block moved back to end at ``stop``, which must leave at least one block's
    pixels."""
    cdef Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
    cdef Py_ssize_t pix_block, cout_block, block, p0, t_lo, slice_taps, aligned_blocks
    cdef Py_ssize_t n_taps = g.k_h * g.k_w * (g.in_c // g.groups)
    cdef Py_ssize_t n_pixels = stop - start, n, oh, ow, last_n, last_oh, last_ow
    _block_dims(shape, COUT_BLOCK, &pix_block, &cout_block)
    # (n, oh, ow) of the band's first pixel and of its last block (moved back to end at
    # stop); the blocks between step along from the first.
    _pixel_coords(g, start, &n, &oh, &ow)
    _pixel_coords(g, stop - pix_block, &last_n, &last_oh, &last_ow)
    # The reduction in slices whose weights stay in cache while every block of the band
    # uses them, when the block's weights are larger than that: L1 for most shapes, the
    # build's choice for wide blocks (L2 with AVX-512; see FC_WIDE_SLICE_BYTES). The last
    # block, moved back to end at the band's end, overlaps its neighbour: it runs whole,
    # after the slices, so that no pixel adds a slice twice.
    slice_taps = max(1, (WIDE_SLICE_BYTES if block_shape is WideBlock else L1_WEIGHT_BYTES)
                     // (cout_block * <Py_ssize_t> sizeof(floating)))
    aligned_blocks = n_pixels // pix_block
    if n_taps > slice_taps and aligned_blocks >= 2:
        t_lo = 0
        while t_lo < n_taps:
            _pixel_coords(g, start, &n, &oh, &ow)
            for block in range(aligned_blocks):
                p0 = block * pix_block
                _add_taps_block(x, w, w_stride, b, zeros, tap_offsets, o_band + p0 * g.out_c,
                                g, n, oh, ow, grp, n_store, t_lo,
                                min(t_lo + slice_taps, n_taps), t_lo > 0, shape)
                _step_pixels(g, pix_block, &n, &oh, &ow)
            t_lo += slice_taps
        if aligned_blocks * pix_block < n_pixels:
            p0 = n_pixels - pix_block
            _add_taps_block(x, w, w_stride, b, zeros, tap_offsets, o_band + p0 * g.out_c, g,
                            last_n, last_oh, last_ow, grp, n_store, 0, n_taps, False, shape)
        return
    for block in range(aligned_blocks):
        _add_taps_block(x, w, w_stride, b, zeros, tap_offsets,
                        o_band + block * pix_block * g.out_c, g, n, oh, ow, grp, n_store, 0,
                        n_taps, False, shape)
        _step_pixels(g, pix_block, &n, &oh, &ow)
    if aligned_blocks * pix_block < n_pixels:
        _add_taps_block(x, w, w_stride, b, zeros, tap_offsets,
                        o_band + (n_pixels - pix_block) * g.out_c, g, last_n, last_oh, last_ow,
                        grp, n_store, 0, n_taps, False, shape)


cdef inline void _panel_band(const floating* x, const floating* panel, const floating* zeros,
                             const Py_ssize_t* tap_offsets, floating* o_band, Window* g,
                             Py_ssize_t start, Py_ssize_t stop, Py_ssize_t band_min,
                             Py_ssize_t grp, Py_ssize_t panel_nr, Py_ssize_t n_store,
                             Py_ssize_t cout_block) noexcept nogil:
    """A band's channels of one packed panel (``n_store`` valid of ``panel_nr``), in the
    block shape for that panel width: PANEL_PIX_BLOCK pixels, or PIX_BLOCK when bands are
    narrower than that (``band_min``). The panel's bias follows its weights."""
    cdef:
        const floating* bias = panel + g.k_h * g.k_w * (g.in_c // g.groups) * panel_nr
        bint short_row = band_min < PANEL_PIX_BLOCK
        bint short_half_row = band_min < NARROW_PIX_BLOCK
        Panel2Block* p2 = NULL
        Panel4Block* p4 = NULL
        Panel8Block* p8 = NULL
        ShortPanel2Block* s2 = NULL
        ShortPanel4Block* s4 = NULL
        ShortPanel8Block* s8 = NULL
    if panel_nr == cout_block // 8:
        if short_row:
            _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                           n_store, s8)
        else:
            _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                           n_store, p8)
    elif panel_nr == cout_block // 4:
        if short_row:
            _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                           n_store, s4)
        else:
            _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                           n_store, p4)
    elif short_half_row:
        _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                       n_store, s2)
    else:
        _band_of_blocks(x, panel, panel_nr, bias, zeros, tap_offsets, o_band, g, start, stop, grp,
                       n_store, p2)


cdef inline bint _bands_are_rows(Window* g) noexcept nogil:
    return g.out_w >= BAND_PIXELS


cdef inline bint _blocks_in_rows(Window* g, Py_ssize_t cout_block) noexcept nogil:
    """Whether a band's register blocks stay within output rows (see _band_of_blocks):
    layers of one group with few input channels (RGB) on maps at least a panel block
    wide, and too few output channels for a wide block (``cout_block``, the build's).
    Their reduction is short, so a block that spans two rows (and so both borders) cost
    more in building its gathered taps than in its multiply-adds: CIFAR's 3x3 3->32
    layer on 32x32 images ran 1.4x slower with "same" padding than on a pre-padded
    input. Wide blocks are 6 pixels, which rows rarely divide: (8,31,31,2) 3x3 -> 64
    ran 0.75x as fast with its blocks kept in rows. Bands of several rows are then
    whole rows."""
    return (g.groups == 1 and g.in_c < WINDOW_MAX_CHANNELS and g.out_c < cout_block
            and g.out_w >= PANEL_PIX_BLOCK and g.out_w < BAND_PIXELS)


cdef inline void _band_geometry(Window* g, Py_ssize_t cout_block, Py_ssize_t* n_bands,
                                Py_ssize_t* band_min) noexcept nogil:
    """How the output pixels of the batch (counted row after row, image after image) are
    cut into bands, the work items of the register blocks: a band is a row of at least
    BAND_PIXELS pixels, or several rows of narrower maps (7x7, 14x14), so that a block's
    weights are used by enough blocks while they are in cache. band_min: the shortest.

    Several rows to a band start at multiples of the wide block's pixels, so that of
    the wide blocks, only the last band's last one overlaps its neighbour and computes
    pixels twice (see _band_bounds); or at whole rows, when blocks stay within rows
    (_blocks_in_rows). A band of one row keeps the row's blocks within it, for the
    kernels' paths along one row."""
    cdef Py_ssize_t total = g.batch * g.out_h * g.out_w
    cdef Py_ssize_t rows = g.batch * g.out_h
    if _blocks_in_rows(g, cout_block):
        n_bands[0] = max(1, rows // ((BAND_PIXELS + g.out_w - 1) // g.out_w))
        band_min[0] = rows // n_bands[0] * g.out_w
        return
    n_bands[0] = max(1, total // max(g.out_w, <Py_ssize_t> BAND_PIXELS))
    if n_bands[0] == 1 or _bands_are_rows(g):
        band_min[0] = total // n_bands[0]
    else:
        band_min[0] = WIDE_PIX_BLOCK * (total // WIDE_PIX_BLOCK // n_bands[0])


cdef inline void _band_bounds(Window* g, Py_ssize_t cout_block, Py_ssize_t band,
                              Py_ssize_t n_bands, Py_ssize_t* start,
                              Py_ssize_t* stop) noexcept nogil:
    """Pixels [start, stop) of a band (see _band_geometry): one row, whole rows, or whole
    wide blocks with the last band running to the end."""
    cdef Py_ssize_t total = g.batch * g.out_h * g.out_w
    cdef Py_ssize_t blocks = total // WIDE_PIX_BLOCK
    cdef Py_ssize_t rows = g.batch * g.out_h
    if _blocks_in_rows(g, cout_block):
        start[0] = band * rows // n_bands * g.out_w
        stop[0] = (band + 1) * rows // n_bands * g.out_w
        return
    if n_bands == 1 or _bands_are_rows(g):
        start[0] = band * total // n_bands
        stop[0] = (band + 1) * total // n_bands
        return
    start[0] = band * blocks // n_bands * WIDE_PIX_BLOCK
    stop[0] = total if band == n_bands - 1 else (band + 1) * blocks // n_bands * WIDE_PIX_BLOCK


cdef inline Py_ssize_t _parts_per_group(Window* g, Py_ssize_t cout_block,
                                        Py_ssize_t band_min) noexcept nogil:
    """How a group's output channels are split into work items of the band loop: one part
    per wide channel block, and one for the channels left (narrow block, panels)."""
    cdef Py_ssize_t cout_g = g.out_c // g.groups, co_full, co_done, panel_nr
    _channel_split(g, cout_block, band_min, &co_full, &co_done, &panel_nr)
    return co_full // cout_block + (1 if co_full < cout_g else 0)


cdef void _depthwise_row(const floating* x, const floating* w, const floating* bias,
                         const floating* zeros, const Py_ssize_t* tap_offsets,
                         floating* out, Window* g, Py_ssize_t row) noexcept nogil:
    """out[n, oh, :, :] of a depthwise layer (multiplier 1) for row = n * out_h + oh."""
    cdef:
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        # Register blocks cover whole rows (see _block_start) when the row is that wide.
        Py_ssize_t wide_blocks = ((g.out_w + PIX_BLOCK - 1) // PIX_BLOCK
                                  if g.out_w >= PIX_BLOCK else 0)
        Py_ssize_t narrow_blocks = ((g.out_w + NARROW_PIX_BLOCK - 1) // NARROW_PIX_BLOCK
                                    if g.out_w >= NARROW_PIX_BLOCK else 0)
        bint wide_sweeps = wide_blocks and _has_depthwise_sweep(g.k_w, g.stride_w, g.dil_w,
                                                                True, floating is float)
        bint narrow_sweeps = narrow_blocks and _has_depthwise_sweep(g.k_w, g.stride_w,
                                                                    g.dil_w, False,
                                                                    floating is float)
        Py_ssize_t co_full, co_done, co_block, co0, block, ow
        floating* o_row = out + row * g.out_w * g.out_c
        WideBlock* wide = NULL
        NarrowBlock* narrow = NULL
        Panel4Block* quarter = NULL
    # Depthwise with multiplier 1: each channel sees only itself. Register blocks over
    # (pixels, channels): COUT_BLOCKs, then the channels left in sweeps of narrow blocks
    # (the last one masked), else of one masked wide block; without sweeps, narrow and
    # quarter blocks, then the rest pixel by pixel, vectorized over C.
    # With 32 vector registers, kernels 5 and more wide sweep every channel in narrow
    # blocks (8 accumulators per pass, not 4: 1.1-2.3x on 5x5 and 7x7 layers); 3-wide
    # ones ran 0.85x so, and AVX2's 5x5 stride-2 ones 0.82-0.85x: they keep wide blocks.
    if narrow_sweeps and VECTOR_REGS >= 32 and g.k_w >= SWEEP_MIN_KERNEL_WIDTH:
        _depthwise_sweeps(x, w, bias, o_row, g, n, oh, False, 0, g.out_c)
        return
    co_full = g.out_c - g.out_c % COUT_BLOCK if wide_blocks else 0
    if wide_sweeps:
        _depthwise_sweeps(x, w, bias, o_row, g, n, oh, True, 0, co_full)
    else:
        # Channel blocks innermost: a block of pixels' input stays in L1 across them.
        for block in range(wide_blocks):
            ow = _block_start(block, PIX_BLOCK, g.out_w)
            for co_block in range(co_full // COUT_BLOCK):
                co0 = co_block * COUT_BLOCK
                _depthwise_block(x, w, bias + co0, zeros, tap_offsets,
                                 o_row + ow * g.out_c + co0, g, n, oh, ow, co0, wide)
    co_done = co_full
    if co_done == g.out_c:
        return
    if narrow_sweeps or wide_sweeps:
        _depthwise_sweeps(x, w, bias, o_row, g, n, oh, not narrow_sweeps, co_done, g.out_c)
        return
    if g.out_w >= NARROW_PIX_BLOCK and g.out_c - co_done >= COUT_BLOCK // 2:
        for block in range(narrow_blocks):
            ow = _block_start(block, NARROW_PIX_BLOCK, g.out_w)
            _depthwise_block(x, w, bias + co_done, zeros, tap_offsets,
                             o_row + ow * g.out_c + co_done, g, n, oh, ow, co_done, narrow)
        co_done += COUT_BLOCK // 2
    if g.out_w >= PANEL_PIX_BLOCK:
        while g.out_c - co_done >= COUT_BLOCK // 4:
            for block in range((g.out_w + PANEL_PIX_BLOCK - 1) // PANEL_PIX_BLOCK):
                ow = _block_start(block, PANEL_PIX_BLOCK, g.out_w)
                _depthwise_block(x, w, bias + co_done, zeros, tap_offsets,
                                 o_row + ow * g.out_c + co_done, g, n, oh, ow, co_done,
                                 quarter)
            co_done += COUT_BLOCK // 4
    if co_done == g.out_c:
        return
    for ow in range(g.out_w):
        _depthwise_pixel(x, w + co_done, g.out_c, bias + co_done,
                         o_row + ow * g.out_c + co_done, g, n, oh, ow, co_done,
                         g.out_c - co_done)


cdef void _conv_band(const floating* x, const floating* w, const floating* bias,
                     const floating* zeros, const Py_ssize_t* tap_offsets,
                     const floating* panels, const floating* block_panels, floating* out,
                     Window* g, Py_ssize_t band, Py_ssize_t n_bands, Py_ssize_t band_min,
                     Py_ssize_t part) noexcept nogil:
    """Part ``part`` of one band of output pixels (see _band_geometry), any channels and
    groups: the channels of one wide block, or a group's channels left after them (see
    _parts_per_group). Threads take bands part by part, so that a part's weights stay in
    the core's cache across bands: a row of a 3x3x512x512 layer needs 9 MiB of weights,
    read from L3 for every row when one item ran a whole row."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        Py_ssize_t start, stop, q, n, oh, ow, grp, co0, co_block, co_full, co_done, chunk
        Py_ssize_t panel_nr, panel_chunks, n_taps = g.k_h * g.k_w * cin_g
        Py_ssize_t parts = _parts_per_group(g, COUT_BLOCK, band_min)
        floating* o_band
        WideBlock* wide = NULL
        NarrowBlock* narrow = NULL
    _band_bounds(g, COUT_BLOCK, band, n_bands, &start, &stop)
    o_band = out + start * g.out_c
    # Per group: wide blocks over the full COUT_BLOCKs, then one narrow block (half the
    # channels, twice the pixels) if half a block is left, then the rest from packed
    # panels (or pixel by pixel on bands narrower than a block).
    _channel_split(g, COUT_BLOCK, band_min, &co_full, &co_done, &panel_nr)
    panel_chunks = (cout_g - co_done + panel_nr - 1) // panel_nr if panel_nr else 0
    grp = part // parts
    co_block = part % parts
    # A group's blocks' panels (conv2d_direct), when packed: the wide blocks', then the
    # narrow block's.
    cdef const floating* group_panels = (block_panels + grp * n_taps * co_done
                                         if block_panels != NULL else NULL)
    if co_block < co_full // COUT_BLOCK:
        co0 = grp * cout_g + co_block * COUT_BLOCK
        if group_panels != NULL:
            _band_of_blocks(x, group_panels + co_block * n_taps * COUT_BLOCK, COUT_BLOCK,
                            bias + co0, zeros, tap_offsets, o_band + co0, g, start, stop, grp,
                            COUT_BLOCK, wide)
        else:
            _band_of_blocks(x, w + co0, g.out_c, bias + co0, zeros, tap_offsets, o_band + co0,
                            g, start, stop, grp, COUT_BLOCK, wide)
        return
    if co_done > co_full:
        co0 = grp * cout_g + co_full
        if group_panels != NULL:
            _band_of_blocks(x, group_panels + co_full * n_taps, COUT_BLOCK // 2, bias + co0,
                            zeros, tap_offsets, o_band + co0, g, start, stop, grp,
                            COUT_BLOCK // 2, narrow)
        else:
            _band_of_blocks(x, w + co0, g.out_c, bias + co0, zeros, tap_offsets, o_band + co0,
                            g, start, stop, grp, COUT_BLOCK // 2, narrow)
    for chunk in range(panel_chunks):
        co0 = co_done + chunk * panel_nr
        _panel_band(x, panels + (grp * panel_chunks + chunk) * (n_taps + 1) * panel_nr, zeros,
                    tap_offsets, o_band + grp * cout_g + co0, g, start, stop, band_min, grp,
                    panel_nr, min(panel_nr, cout_g - co0), COUT_BLOCK)
    if panel_nr == 0 and co_done < cout_g:
        for q in range(start, stop):
            _pixel_coords(g, q, &n, &oh, &ow)
            _pixel_taps(x, w, bias + grp * cout_g, out + q * g.out_c + grp * cout_g, g, n, oh,
                        ow, grp, co_done, cout_g)


cdef inline Py_ssize_t _grouped_parts(Window* g, Py_ssize_t cout_block) noexcept nogil:
    """The grouped blocks of a layer's channels: whole blocks, and a last one that may
    hold fewer channels (fastconv_microkernel.h's masked twin)."""
    return (g.out_c + cout_block - 1) // cout_block


cdef inline bint _use_grouped_blocks(Window* g, Py_ssize_t cout_block,
                                     Py_ssize_t lanes) noexcept nogil:
    """Grouped blocks (fastconv_microkernel.h) take layers with C_in/groups == C_out/groups
    == G in {2, 4, 8, 16, 32} (at most two vectors' lanes) whose channels fill whole
    blocks, or, with groups of at most one vector, whose last block is more than half
    full (masked). RegNet's (8,28,28,152) 3x3, 8 a group, ran 1.56-1.75x faster so than
    in per-group panels of half vectors, (8,14,14,160), 16 a group, 1.42-1.64x (AVX-512).
    A half-full block lost: 16 channels, 4 a group, ran 0.74x as fast with AVX2 (32-
    channel blocks). Groups of two vectors fill a per-group panel's vectors already:
    (8,14,14,96), 32 a group, ran 0.68x as fast with a masked block."""
    cdef Py_ssize_t group = g.out_c // g.groups
    return (HAS_GROUPED and g.groups > 1 and g.in_c == g.out_c
            and (group == 2 or group == 4 or group == 8 or group == 16 or group == 32)
            and group <= 2 * lanes and group <= cout_block
            and (g.out_c % cout_block == 0
                 or (group <= lanes
                     and 2 * g.out_c > _grouped_parts(g, cout_block) * cout_block)))


cdef void _grouped_band(const floating* x, const floating* block_panels,
                        const floating* bias, const floating* zeros, floating* out, Window* g,
                        Py_ssize_t band, Py_ssize_t n_bands,
                        Py_ssize_t block_index) noexcept nogil:
    """One band's channels [block_index * COUT_BLOCK, ...) of a grouped layer in grouped
    blocks of WIDE_PIX_BLOCK pixels (the last moved back to end at the band's end). Each
    kernel tap (kh, kw) is one run: the pixels' input channels of the block (or the zero pixel
    in the padding) and the tap's G weight rows, consecutive in the block's packed panel
    (see conv2d_direct)."""
    cdef:
        Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
        Py_ssize_t G = g.out_c // g.groups, c0 = block_index * COUT_BLOCK
        Py_ssize_t channels = min(COUT_BLOCK, g.out_c - c0)
        const floating* panel = block_panels + block_index * g.k_h * g.k_w * G * COUT_BLOCK
        Py_ssize_t start, stop, block, pixel0, p, kh, kw, ih, iw, n_runs
        Py_ssize_t pix_n[WIDE_PIX_BLOCK], pix_oh[WIDE_PIX_BLOCK], pix_ow[WIDE_PIX_BLOCK]
        const floating* run_pixels[MAX_RUNS * WIDE_PIX_BLOCK]
        const floating* run_w[MAX_RUNS]
        const floating** run
        const floating* init
        Py_ssize_t init_stride
        bint any_inside
    _band_bounds(g, COUT_BLOCK, band, n_bands, &start, &stop)
    for block in range((stop - start + WIDE_PIX_BLOCK - 1) // WIDE_PIX_BLOCK):
        pixel0 = min(start + block * WIDE_PIX_BLOCK, stop - WIDE_PIX_BLOCK)
        _pixel_coords(g, pixel0, &pix_n[0], &pix_oh[0], &pix_ow[0])
        for p in range(1, WIDE_PIX_BLOCK):
            pix_n[p], pix_oh[p], pix_ow[p] = pix_n[p - 1], pix_oh[p - 1], pix_ow[p - 1]
            _step_pixels(g, 1, &pix_n[p], &pix_oh[p], &pix_ow[p])
        init, init_stride = bias + c0, 0
        n_runs = 0
        for kh in range(g.k_h):
            for kw in range(g.k_w):
                run = run_pixels + n_runs * WIDE_PIX_BLOCK
                any_inside = False
                for p in range(WIDE_PIX_BLOCK):
                    ih = input_row(g, pix_oh[p], kh)
                    iw = input_col(g, pix_ow[p], kw)
                    if inside(ih, g.in_h) and inside(iw, g.in_w):
                        run[p] = x + pixel_offset(g, pix_n[p], ih, iw) + c0
                        any_inside = True
                    else:
                        run[p] = zeros
                if not any_inside:
                    continue
                run_w[n_runs] = panel + (kh * g.k_w + kw) * G * COUT_BLOCK
                n_runs += 1
                if n_runs == MAX_RUNS:
                    _grouped_taps(run_pixels, run_w, n_runs, G, COUT_BLOCK, channels, init,
                                  init_stride, out + pixel0 * g.out_c + c0, g.out_c)
                    init, init_stride = out + pixel0 * g.out_c + c0, g.out_c
                    n_runs = 0
        if n_runs or init_stride == 0:
            _grouped_taps(run_pixels, run_w, n_runs, G, COUT_BLOCK, channels, init,
                          init_stride, out + pixel0 * g.out_c + c0, g.out_c)


cdef inline void _grouped_taps(const floating** x_pixels, const floating** w_rows,
                               Py_ssize_t n_runs, Py_ssize_t group, Py_ssize_t w_r_stride,
                               Py_ssize_t channels, const floating* init,
                               Py_ssize_t init_stride, floating* out,
                               Py_ssize_t out_stride) noexcept nogil:
    if floating is float:
        grouped_wide_f32(x_pixels, w_rows, n_runs, group, w_r_stride, channels, init,
                         init_stride, out, out_stride)
    else:
        grouped_wide_f64(x_pixels, w_rows, n_runs, group, w_r_stride, channels, init,
                         init_stride, out, out_stride)


# Column blocks: layers with at most COLUMN_MAX_COUT output channels per group (RGB
# conversions, Sobel pairs, LeNet, YOLO's and ResNeXt's narrow layers) run vectorised along
# the output row (fastconv_microkernel.h), in chunks of 4, 2 and 1 channels.
cdef enum:
    COLUMN_MAX_COUT = 4
    COLUMN_MAX_ROWS_BYTES = 256 << 10   # a thread's laid-out input rows (_column_rows)
    COLUMN_PIXELS_MAX = 64


cdef inline Py_ssize_t _column_chunk(Py_ssize_t channels_left) noexcept nogil:
    """Channels of the next column chunk: 4, then 2, then 1 (never padded)."""
    return 4 if channels_left >= 4 else (2 if channels_left >= 2 else 1)


cdef inline Py_ssize_t _column_row_len(Window* g, Py_ssize_t pixels) noexcept nogil:
    """Values per laid-out input row: whole column blocks of output pixels, plus the
    widest tap shift (kernel column kw reads (kw * dil_w) // stride_w further on)."""
    return ((g.out_w + pixels - 1) // pixels) * pixels + (g.k_w - 1) * g.dil_w // g.stride_w + 1


cdef inline void _columns(const floating* rows, const Py_ssize_t* tap_offsets,
                          Py_ssize_t n_taps, const floating* w, const floating* bias,
                          floating* block, Py_ssize_t channels) noexcept nogil:
    if channels == 4:
        if floating is float:
            columns_4_f32(rows, tap_offsets, n_taps, w, bias, block)
        else:
            columns_4_f64(rows, tap_offsets, n_taps, w, bias, block)
    elif channels == 2:
        if floating is float:
            columns_2_f32(rows, tap_offsets, n_taps, w, bias, block)
        else:
            columns_2_f64(rows, tap_offsets, n_taps, w, bias, block)
    else:
        if floating is float:
            columns_1_f32(rows, tap_offsets, n_taps, w, bias, block)
        else:
            columns_1_f64(rows, tap_offsets, n_taps, w, bias, block)


cdef void _conv_columns_row(const floating* x, const floating* column_w,
                            const Py_ssize_t* tap_offsets, floating* rows, floating* out,
                            Window* g, Py_ssize_t row, Py_ssize_t grp) noexcept nogil:
    """out[n, oh, :, group grp's channels] for row = n * out_h + oh, in column blocks.

    ``rows`` (the thread's) receives the input this output row reads, laid out per kernel
    row kh, input channel and stride phase as one zero-padded run, so that kernel tap
    (kh, kw, ci) of output pixel j reads rows[tap_offsets[t] + j]. ``column_w`` holds each
    group's chunks: weights tap by tap (CO per tap), then CO biases.
    """
    cdef:
        Py_ssize_t PIXELS = COLUMN_PIXELS_F32 if floating is float else COLUMN_PIXELS_F64
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        Py_ssize_t n_taps = g.k_h * g.k_w * cin_g
        Py_ssize_t row_len = _column_row_len(g, PIXELS)
        Py_ssize_t kh, kh_lo, kh_hi, ih, ci, phase, m, m_lo, m_hi, co0, chunk, ow0, p, c
        Py_ssize_t t_begin
        Py_ssize_t sw = g.stride_w
        const floating* src
        const floating* chunk_w
        floating* dst
        floating* o
        floating block[4 * COLUMN_PIXELS_MAX]
    _rows_inside(g, input_row(g, oh, 0), &kh_lo, &kh_hi)
    for kh in range(kh_lo, kh_hi):
        ih = input_row(g, oh, kh)
        src = x + pixel_offset(g, n, ih, 0) + grp * cin_g
        for ci in range(cin_g):
            for phase in range(sw):
                dst = rows + ((kh * cin_g + ci) * sw + phase) * row_len
                # Entries m whose column m * sw + phase - pad_left lies in the image; the
                # rest are zeros. (A bounds test per entry cost more than the taps.)
                m_lo = min(max(0, (g.pad_left - phase + sw - 1) // sw), row_len)
                m_hi = max(m_lo, min(row_len, (g.in_w + g.pad_left - phase + sw - 1) // sw))
                for m in range(m_lo):
                    dst[m] = 0
                for m in range(m_lo, m_hi):
                    dst[m] = src[(m * sw + phase - g.pad_left) * g.in_c + ci]
                for m in range(m_hi, row_len):
                    dst[m] = 0
    t_begin = kh_lo * g.k_w * cin_g
    chunk_w = column_w + grp * cout_g * (n_taps + 1)
    co0 = 0
    while co0 < cout_g:
        chunk = _column_chunk(cout_g - co0)
        ow0 = 0
        while ow0 < g.out_w:
            _columns(rows + ow0, tap_offsets + t_begin, (kh_hi - kh_lo) * g.k_w * cin_g,
                     chunk_w + t_begin * chunk, chunk_w + n_taps * chunk, block, chunk)
            o = out + (row * g.out_w + ow0) * g.out_c + grp * cout_g + co0
            for p in range(min(PIXELS, g.out_w - ow0)):
                for c in range(chunk):
                    o[p * g.out_c + c] = block[c * PIXELS + p]
            ow0 += PIXELS
        chunk_w += chunk * (n_taps + 1)
        co0 += chunk


# One-channel images: output pixels per register chunk of a row (8 vectors: enough
# independent accumulators to cover the FMA latency), per SIMD build and dtype.
cdef extern from "fastconv_microkernel.h" nogil:
    # Row kernels (see the header): a chunk of ROW_CHUNK values of an output row.
    enum:
        ROW_CHUNK_F32 "FC_ROW_CHUNK_f32"
        ROW_CHUNK_F64 "FC_ROW_CHUNK_f64"
    void row_depthwise_f32 "fc_row_depthwise_f32"(const float** srcs, const float** weights,
        Py_ssize_t n_taps, Py_ssize_t j, const float* init, float* out)
    void row_depthwise_f64 "fc_row_depthwise_f64"(const double** srcs, const double** weights,
        Py_ssize_t n_taps, Py_ssize_t j, const double* init, double* out)
    void row_single_f32 "fc_row_single_f32"(const float** srcs, const float* weights,
        Py_ssize_t n_taps, Py_ssize_t j, const float* init, float* out)
    void row_single_f64 "fc_row_single_f64"(const double** srcs, const double* weights,
        Py_ssize_t n_taps, Py_ssize_t j, const double* init, double* out)
    enum:
        PAIR_ROW_CHUNK_F32 "FC_PAIR_ROW_CHUNK_f32"
        PAIR_ROW_CHUNK_F64 "FC_PAIR_ROW_CHUNK_f64"
    void row_single_pair_f32 "fc_row_single_pair_f32"(const float** srcs, const float* weights,
        Py_ssize_t k_h, Py_ssize_t k_w, Py_ssize_t j, const float* init, float* out_a,
        float* out_b)
    void row_single_pair_f64 "fc_row_single_pair_f64"(const double** srcs,
        const double* weights, Py_ssize_t k_h, Py_ssize_t k_w, Py_ssize_t j,
        const double* init, double* out_a, double* out_b)
    void dw_steps8_f32 "fc_dw_steps8_f32"(const float** srcs, const float** weights,
        Py_ssize_t n_taps, Py_ssize_t phase, Py_ssize_t j_in, Py_ssize_t in_step, Py_ssize_t j_out,
        Py_ssize_t out_step, const float* init, float* out)
    void dw_steps8_f64 "fc_dw_steps8_f64"(const double** srcs, const double** weights,
        Py_ssize_t n_taps, Py_ssize_t phase, Py_ssize_t j_in, Py_ssize_t in_step, Py_ssize_t j_out,
        Py_ssize_t out_step, const double* init, double* out)
    void dw_steps4_f32 "fc_dw_steps4_f32"(const float** srcs, const float** weights,
        Py_ssize_t n_taps, Py_ssize_t phase, Py_ssize_t j_in, Py_ssize_t in_step, Py_ssize_t j_out,
        Py_ssize_t out_step, const float* init, float* out)
    void dw_steps4_f64 "fc_dw_steps4_f64"(const double** srcs, const double** weights,
        Py_ssize_t n_taps, Py_ssize_t phase, Py_ssize_t j_in, Py_ssize_t in_step, Py_ssize_t j_out,
        Py_ssize_t out_step, const double* init, double* out)

    enum:
        DW_PAIR_STEPS "FC_DW_PAIR_STEPS"
    void dw_pair_f32 "fc_dw_pair_f32"(const float** srcs, const float** weights,
        Py_ssize_t k_h, Py_ssize_t k_w, Py_ssize_t phase, Py_ssize_t j_in,
        Py_ssize_t in_step, Py_ssize_t j_out, Py_ssize_t out_step, const float* init,
        float* out_a, float* out_b)
    void dw_pair_f64 "fc_dw_pair_f64"(const double** srcs, const double** weights,
        Py_ssize_t k_h, Py_ssize_t k_w, Py_ssize_t phase, Py_ssize_t j_in,
        Py_ssize_t in_step, Py_ssize_t j_out, Py_ssize_t out_step, const double* init,
        double* out_a, double* out_b)

cdef enum:
    # Taps per row-kernel call (pairs up to 21x21); more continue from the output. The
    # kernels keep up to 8 arrays of this many pointers on the stack: 32 KiB at 512.
    ROW_TAPS_MAX = 512
    ROW_CHUNK_MAX = 128  # the largest ROW_CHUNK of any build


cdef inline void _row_depthwise(const floating** srcs, const floating** weights,
                                Py_ssize_t n_taps, Py_ssize_t j, const floating* init,
                                floating* out) noexcept nogil:
    if floating is float:
        row_depthwise_f32(srcs, weights, n_taps, j, init, out)
    else:
        row_depthwise_f64(srcs, weights, n_taps, j, init, out)


cdef inline void _depthwise_border_pixel(const floating* x, const floating* periodic_w,
                                         Py_ssize_t period_len, const floating* periodic_b,
                                         floating* o, Window* g, Py_ssize_t n,
                                         Py_ssize_t oh, Py_ssize_t ow) noexcept nogil:
    """o[:C] of a depthwise pixel whose window crosses the padding: its taps inside the
    image, in chunks of ROW_CHUNK channels (the last moved back to end at C) through the
    row kernel; pixel by pixel when C is narrower than a chunk."""
    cdef:
        Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
        Py_ssize_t C = g.out_c, kh, kw, ih, iw, chunk, n_taps = 0
        const floating* srcs[ROW_TAPS_MAX]
        const floating* weights[ROW_TAPS_MAX]
    if C < ROW_CHUNK or g.k_h * g.k_w > ROW_TAPS_MAX:
        _depthwise_pixel(x, periodic_w, period_len, periodic_b, o, g, n, oh, ow, 0, C)
        return
    for kh in range(g.k_h):
        ih = source_row(g, oh, kh)
        if ih < 0:
            continue
        for kw in range(g.k_w):
            iw = source_col(g, ow, kw)
            if iw >= 0:
                srcs[n_taps] = x + pixel_offset(g, n, ih, iw)
                weights[n_taps] = periodic_w + (kh * g.k_w + kw) * period_len
                n_taps += 1
    for chunk in range((C + ROW_CHUNK - 1) // ROW_CHUNK):
        _row_depthwise(srcs, weights, n_taps, min(chunk * ROW_CHUNK, C - ROW_CHUNK),
                       periodic_b + min(chunk * ROW_CHUNK, C - ROW_CHUNK), o)


cdef inline void _row_single(const floating** srcs, const floating* weights,
                             Py_ssize_t n_taps, Py_ssize_t j, const floating* init,
                             floating* out) noexcept nogil:
    if floating is float:
        row_single_f32(srcs, weights, n_taps, j, init, out)
    else:
        row_single_f64(srcs, weights, n_taps, j, init, out)


cdef inline bint _one_channel_pair(const floating* x, const floating* w,
                                   const floating* bias_row, Py_ssize_t bias_period,
                                   floating* o_a, floating* o_b, Window* g, Py_ssize_t n,
                                   Py_ssize_t oh, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """o_a[lo:hi] and o_b[lo:hi], output rows oh and oh + 1 of a one-channel row with
    stride 1 and dil_h 1 whose columns [lo, hi) lie inside the image horizontally, as
    one-channel pairs (fc_row_single_pair) in chunks (the last moved back to end at hi),
    from bias_row as _single_channel_chunks has it. False, with nothing written, when
    the interior is shorter than a chunk, the taps are too many for one call, or one of
    the k_h + 1 input rows lies in zero padding."""
    cdef:
        Py_ssize_t PAIR_CHUNK = PAIR_ROW_CHUNK_F32 if floating is float else PAIR_ROW_CHUNK_F64
        Py_ssize_t r, kw, ih, chunk, j0
        const floating* srcs[ROW_TAPS_MAX]
    if g.stride_w != 1 or hi - lo < PAIR_CHUNK or (g.k_h + 1) * g.k_w > ROW_TAPS_MAX:
        return False
    for r in range(g.k_h + 1):
        ih = source_row(g, oh, r)  # kernel row r of row oh: row oh + 1's kernel row r - 1
        if ih < 0:
            return False
        for kw in range(g.k_w):
            srcs[r * g.k_w + kw] = x + pixel_offset(g, n, ih, 0) + kw * g.dil_w - g.pad_left
    for chunk in range((hi - lo + PAIR_CHUNK - 1) // PAIR_CHUNK):
        j0 = min(lo + chunk * PAIR_CHUNK, hi - PAIR_CHUNK)
        if floating is float:
            row_single_pair_f32(srcs, w, g.k_h, g.k_w, j0, bias_row + j0 % bias_period,
                                o_a, o_b)
        else:
            row_single_pair_f64(srcs, w, g.k_h, g.k_w, j0, bias_row + j0 % bias_period,
                                o_a, o_b)
    return True


cdef inline void _single_channel_chunks(const floating* x, const floating* w,
                                        const floating* bias_row, Py_ssize_t bias_period,
                                        floating* o, Window* g, Py_ssize_t n, Py_ssize_t oh,
                                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """o[lo:hi] of a one-channel row with stride_w 1, all of whose taps lie inside the
    image horizontally, in chunks of ROW_CHUNK from ``bias_row`` (value j's bias at
    bias_row[j % bias_period], ROW_CHUNK values on): every tap accumulates in registers
    (the row kernel), and each value is stored once per batch of ROW_TAPS_MAX taps. The
    taps' input pointers (at output column 0) are listed once per row and batch."""
    cdef:
        Py_ssize_t kh, kw, ih, n_taps = 0, rows_inside = 0
        const floating* srcs[ROW_TAPS_MAX]
        floating weights[ROW_TAPS_MAX]
        bint started = False, batched
    for kh in range(g.k_h):
        if source_row(g, oh, kh) >= 0:
            rows_inside += 1
    batched = rows_inside * g.k_w > ROW_TAPS_MAX
    for kh in range(g.k_h):
        ih = source_row(g, oh, kh)
        if ih < 0:
            continue
        for kw in range(g.k_w):
            srcs[n_taps] = x + pixel_offset(g, n, ih, 0) + kw * g.dil_w - g.pad_left
            weights[n_taps] = w[kh * g.k_w + kw]
            n_taps += 1
            if n_taps == ROW_TAPS_MAX:
                _single_channel_batch(srcs, weights, n_taps, bias_row, bias_period, o, lo,
                                      hi, started, batched)
                started, n_taps = True, 0
    if n_taps or not started:
        _single_channel_batch(srcs, weights, n_taps, bias_row, bias_period, o, lo, hi,
                              started, batched)


cdef inline void _single_channel_batch(const floating* const* srcs, const floating* weights,
                                       Py_ssize_t n_taps, const floating* bias_row,
                                       Py_ssize_t bias_period, floating* o, Py_ssize_t lo,
                                       Py_ssize_t hi, bint started,
                                       bint batched) noexcept nogil:
    """One batch of taps over o[lo:hi], from the bias or (``started``) from the sums of
    the batches before. With one batch, the last chunk moves back to end at hi (it
    recomputes values from the bias); with several it cannot (it would add a batch twice
    to the values it shares), so the values past the last whole chunk go one by one."""
    cdef Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
    cdef Py_ssize_t chunk, ow0, t, j, n_chunks = (hi - lo + ROW_CHUNK - 1) // ROW_CHUNK
    if batched:
        n_chunks = (hi - lo) // ROW_CHUNK
    for chunk in range(n_chunks):
        ow0 = min(lo + chunk * ROW_CHUNK, hi - ROW_CHUNK)
        _row_single(<const floating**> srcs, weights, n_taps, ow0,
                    o + ow0 if started else bias_row + ow0 % bias_period, o)
    if batched:
        for j in range(lo + n_chunks * ROW_CHUNK, hi):
            if not started:
                o[j] = bias_row[j % bias_period]
            for t in range(n_taps):
                o[j] = _madd(weights[t], srcs[t][j], o[j])


cdef inline void _dw_steps(Py_ssize_t steps, const floating** srcs,
                           const floating** weights, Py_ssize_t n_taps, Py_ssize_t phase,
                           Py_ssize_t j_in, Py_ssize_t in_step, Py_ssize_t j_out,
                           Py_ssize_t out_step, const floating* init,
                           floating* out) noexcept nogil:
    if steps == 8:
        if floating is float:
            dw_steps8_f32(srcs, weights, n_taps, phase, j_in, in_step, j_out, out_step, init,
                          out)
        else:
            dw_steps8_f64(srcs, weights, n_taps, phase, j_in, in_step, j_out, out_step, init,
                          out)
    else:
        if floating is float:
            dw_steps4_f32(srcs, weights, n_taps, phase, j_in, in_step, j_out, out_step, init,
                          out)
        else:
            dw_steps4_f64(srcs, weights, n_taps, phase, j_in, in_step, j_out, out_step, init,
                          out)


cdef inline void _dw_pair(const floating** srcs, const floating** weights, Window* g,
                          Py_ssize_t phase, Py_ssize_t j_in, Py_ssize_t in_step,
                          Py_ssize_t j_out, Py_ssize_t out_step, const floating* init,
                          floating* out_a, floating* out_b) noexcept nogil:
    if floating is float:
        dw_pair_f32(srcs, weights, g.k_h, g.k_w, phase, j_in, in_step, j_out, out_step, init,
                    out_a, out_b)
    else:
        dw_pair_f64(srcs, weights, g.k_h, g.k_w, phase, j_in, in_step, j_out, out_step, init,
                    out_a, out_b)


cdef inline Py_ssize_t _depthwise_steps(const floating** srcs, const floating** taps_w,
                                        Py_ssize_t n_taps, const floating* periodic_b,
                                        floating* o_row, floating* o_row_b, Window* g,
                                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The interior pixels [lo, hi) of a depthwise row in depthwise steps (see the
    header): vectors of values a whole number of pixels apart share their weights. With
    C of at least a vector, a step is one pixel, and columns of vectors at phases 0, L,
    2L ... (the last moved back to end at C) cover each pixel; with fewer channels, a
    step is the most whole pixels a vector holds. srcs[t] is tap t's input for output
    pixel 0, taps_w[t] its periodic weights at phase 0. Returns the end of the pixels
    covered (lo if none): the caller computes the rest. Blocks moved back recompute
    values with the same bits.

    With ``o_row_b``, the next output row too, as depthwise pairs: srcs then lists the
    k_w taps of k_h + 1 input rows, taps_w the k_h * k_w taps' weights."""
    cdef:
        Py_ssize_t L = LANES_F32 if floating is float else LANES_F64
        Py_ssize_t C = g.out_c, stride_w = g.stride_w
        Py_ssize_t pixels = 1 if C >= L else L // C   # per step
        Py_ssize_t n_steps, n_columns, column, phase, block, m0, steps, j_in, j_out
    if C >= L:
        n_steps, n_columns = hi - lo, (C + L - 1) // L
    else:
        # Step m covers values [m * pixels * C, + L) of the interior: the last must end
        # inside it.
        n_steps = ((hi - lo) * C - L) // (pixels * C) + 1 if (hi - lo) * C >= L else 0
        n_columns = 1
    steps = DW_PAIR_STEPS if o_row_b != NULL else (8 if n_steps >= 8 else 4)
    if n_steps < steps:
        return lo
    # Columns innermost: a block's columns read the same input lines.
    for block in range((n_steps + steps - 1) // steps):
        m0 = min(block * steps, n_steps - steps)
        for column in range(n_columns):
            phase = min(column * L, C - L) if C >= L else 0
            j_in = (lo + m0 * pixels) * stride_w * C + phase
            j_out = (lo + m0 * pixels) * C + phase
            if o_row_b == NULL:
                _dw_steps(steps, srcs, taps_w, n_taps, phase, j_in, pixels * stride_w * C,
                          j_out, pixels * C, periodic_b + phase, o_row)
            else:
                _dw_pair(srcs, taps_w, g, phase, j_in, pixels * stride_w * C, j_out,
                         pixels * C, periodic_b + phase, o_row, o_row_b)
    if C >= L:
        return hi
    return lo + ((n_steps - 1) * pixels * C + L) // C


cdef inline bint _one_kernel_per_channel(const floating* w, Py_ssize_t n_taps,
                                        Py_ssize_t C) noexcept nogil:
    """Whether a depthwise kernel (n_taps rows of C weights) has the same bits in every
    channel of each tap."""
    cdef Py_ssize_t t
    for t in range(n_taps):
        if memcmp(w + t * C, w + t * C + 1, (C - 1) * sizeof(floating)) != 0:
            return False
    return True


cdef inline void _flat_values(Window* g, Window* flat) noexcept nogil:
    """The window of a depthwise layer (stride_w 1) seen as a one-channel image of C
    values per pixel: its taps lie C values apart, and value j of a row reads the input
    value of the same channel. Valid for the interior columns only."""
    cdef Py_ssize_t C = g.out_c
    flat[0] = g[0]
    flat.in_w, flat.in_c, flat.out_w, flat.out_c = g.in_w * C, 1, g.out_w * C, 1
    flat.dil_w, flat.pad_left, flat.groups = g.dil_w * C, g.pad_left * C, 1
    flat.col_source = NULL  # indexed by pixel, not by value: no column of it is padding


cdef inline bint _uniform_interior(const floating* x, const floating* uniform_w,
                                  const floating* periodic_b, floating* o_row, Window* g,
                                  Py_ssize_t n, Py_ssize_t oh, Py_ssize_t lo,
                                  Py_ssize_t hi) noexcept nogil:
    """The interior pixels [lo, hi) of a flat depthwise row whose channels all share one
    kernel (``uniform_w``: a weight per tap), as OpenCV's filter2D and scipy.ndimage
    filter a colour image: the flat run of values is then a one-channel row whose taps
    lie C values apart, so the one-channel row kernel runs it, every lane useful and
    every weight a broadcast. Values start from the periodic bias. False, with nothing
    written, when the interior is shorter than a chunk."""
    cdef Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
    cdef Py_ssize_t C = g.out_c
    cdef Window flat
    if (hi - lo) * C < ROW_CHUNK:
        return False
    _flat_values(g, &flat)
    _single_channel_chunks(x, uniform_w, periodic_b, C, o_row, &flat, n, oh, lo * C, hi * C)
    return True


cdef void _depthwise_flat_row(const floating* x, const floating* periodic_w,
                              const floating* periodic_b, Py_ssize_t period_len,
                              const floating* uniform_w, floating* out, Window* g,
                              Py_ssize_t row) noexcept nogil:
    """out[n, oh, :, :] of a depthwise layer (multiplier 1), with the row seen as one
    flat run of OW * C values: output value ow * C + c reads input value
    (ow * stride_w + kw * dil_w - pad_left) * C + c of each kernel row's input row, times
    weight w[kh, kw, c]. The weights come from a periodic copy of each tap's C weights
    (``periodic_w``: period_len values per tap, starting at channel 0).

    The interior runs in depthwise steps (_depthwise_steps), or, on rows too short for a
    block of steps with stride_w 1, in chunks of ROW_CHUNK values through the row kernel,
    each chunk's weights starting at its phase j0 % C. Border pixels (and short rows with
    a stride) go pixel by pixel. With ``uniform_w`` (every channel has the same kernel),
    the interior runs as a one-channel row (_uniform_interior)."""
    cdef:
        Py_ssize_t C = g.out_c, n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t lo, hi, kh, kw, ih, n_taps = 0, stepped
        const floating* srcs[ROW_TAPS_MAX]
        const floating* taps_w[ROW_TAPS_MAX]
        floating* o_row = out + row * g.out_w * C
    _flat_interior(g, &lo, &hi)
    if uniform_w != NULL and _uniform_interior(x, uniform_w, periodic_b, o_row, g, n, oh,
                                               lo, hi):
        _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row, g, n, oh, lo, hi,
                            hi)
        return
    stepped = lo
    # The taps whose kernel row lies inside the image: input at output value 0, weights.
    for kh in range(g.k_h):
        ih = source_row(g, oh, kh)
        if ih >= 0 and n_taps + g.k_w <= ROW_TAPS_MAX:
            for kw in range(g.k_w):
                srcs[n_taps] = x + pixel_offset(g, n, ih, 0) + (kw * g.dil_w - g.pad_left) * C
                taps_w[n_taps] = periodic_w + (kh * g.k_w + kw) * period_len
                n_taps += 1
        elif ih >= 0:
            n_taps = ROW_TAPS_MAX + 1  # too many taps for one call: chunks only
            break
    if n_taps <= ROW_TAPS_MAX:
        stepped = _depthwise_steps(srcs, taps_w, n_taps, periodic_b, o_row, NULL, g, lo, hi)
    _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row, g, n, oh, lo, hi,
                        stepped)


cdef inline void _flat_interior(Window* g, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The output columns [lo, hi) of a depthwise row whose windows lie inside the image
    horizontally: ow * stride_w - pad_left >= 0 and ... + (k_w - 1) * dil_w < in_w."""
    cdef Py_ssize_t last = g.in_w - 1 + g.pad_left - (g.k_w - 1) * g.dil_w
    lo[0] = min((g.pad_left + g.stride_w - 1) // g.stride_w, g.out_w)
    hi[0] = min(last // g.stride_w + 1, g.out_w) if last >= 0 else 0
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef void _depthwise_row_rest(const floating* x, const floating* periodic_w,
                              const floating* periodic_b, Py_ssize_t period_len,
                              floating* o_row, Window* g, Py_ssize_t n, Py_ssize_t oh,
                              Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t stepped) noexcept nogil:
    """What the depthwise steps left of row (n, oh): the interior [lo, hi) in row-kernel
    chunks when no steps ran (stride_w 1), the pixels [stepped, hi) after the steps, and
    the border pixels."""
    cdef:
        Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
        Py_ssize_t C = g.out_c, j_lo, j_hi, n_chunks, chunk, j0, phase, kh, kw, ih, ow
        Py_ssize_t n_taps
        const floating* srcs[ROW_TAPS_MAX]
        const floating* weights[ROW_TAPS_MAX]
        const floating* init
    j_lo, j_hi = stepped * C, hi * C
    if stepped == lo and (j_hi - j_lo < ROW_CHUNK or g.stride_w != 1):
        hi = lo  # too short for one chunk: all pixel by pixel
    elif stepped == lo:
        n_chunks = (j_hi - j_lo + ROW_CHUNK - 1) // ROW_CHUNK
        for chunk in range(n_chunks):
            j0 = min(j_lo + chunk * ROW_CHUNK, j_hi - ROW_CHUNK)
            phase = j0 % C
            init, n_taps = periodic_b + phase, 0
            for kh in range(g.k_h):
                ih = source_row(g, oh, kh)
                if ih < 0:
                    continue
                for kw in range(g.k_w):
                    srcs[n_taps] = (x + pixel_offset(g, n, ih, 0) + j0
                                    + (kw * g.dil_w - g.pad_left) * C)
                    weights[n_taps] = periodic_w + (kh * g.k_w + kw) * period_len + phase
                    n_taps += 1
                    if n_taps == ROW_TAPS_MAX:
                        _row_depthwise(srcs, weights, n_taps, 0, init, o_row + j0)
                        init, n_taps = o_row + j0, 0
            if n_taps or init != o_row + j0:
                _row_depthwise(srcs, weights, n_taps, 0, init, o_row + j0)
    else:
        hi = stepped  # pixels [stepped, hi) are left to the per-pixel loop
    for ow in range(lo):
        _depthwise_border_pixel(x, periodic_w, period_len, periodic_b, o_row + ow * C, g, n,
                                oh, ow)
    for ow in range(hi, g.out_w):
        _depthwise_border_pixel(x, periodic_w, period_len, periodic_b, o_row + ow * C, g, n,
                                oh, ow)


cdef inline bint _pairs_rows(Window* g) noexcept nogil:
    """Whether flat depthwise rows run two at a time (depthwise pairs): consecutive
    output rows then share all but one input row."""
    return g.stride_h == 1 and g.dil_h == 1 and (g.k_h + 1) * g.k_w <= ROW_TAPS_MAX


cdef void _depthwise_flat_pair(const floating* x, const floating* periodic_w,
                               const floating* periodic_b, Py_ssize_t period_len,
                               const floating* uniform_w, floating* out, Window* g,
                               Py_ssize_t item) noexcept nogil:
    """Output rows 2i and 2i + 1 of image n (item = n * ceil(out_h / 2) + i) of a flat
    depthwise layer with stride_h and dil_h 1: as a depthwise pair where both rows'
    windows lie inside the image vertically, else row by row (_depthwise_flat_row).
    With ``uniform_w``, the pair's interiors run as one-channel pairs of C-value taps
    (see _uniform_interior)."""
    cdef:
        Py_ssize_t half = (g.out_h + 1) // 2, C = g.out_c
        Py_ssize_t n = item // half, oh = 2 * (item % half), row = n * g.out_h + oh
        Py_ssize_t first_ih = input_row(g, oh, 0), lo, hi, stepped, r, kw, t
        const floating* srcs[ROW_TAPS_MAX]
        const floating* taps_w[ROW_TAPS_MAX]
        floating* o_row = out + row * g.out_w * C
        Window flat
    if uniform_w != NULL:
        _flat_interior(g, &lo, &hi)
        _flat_values(g, &flat)
        if oh + 1 < g.out_h and _one_channel_pair(x, uniform_w, periodic_b, C, o_row,
                                                  o_row + g.out_w * C, &flat, n, oh,
                                                  lo * C, hi * C):
            _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row, g, n, oh, lo,
                                hi, hi)
            _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row + g.out_w * C,
                                g, n, oh + 1, lo, hi, hi)
            return
    if oh + 1 >= g.out_h or first_ih < 0 or first_ih + g.k_h >= g.in_h:
        _depthwise_flat_row(x, periodic_w, periodic_b, period_len, uniform_w, out, g, row)
        if oh + 1 < g.out_h:
            _depthwise_flat_row(x, periodic_w, periodic_b, period_len, uniform_w, out, g,
                                row + 1)
        return
    _flat_interior(g, &lo, &hi)
    for r in range(g.k_h + 1):
        for kw in range(g.k_w):
            srcs[r * g.k_w + kw] = (x + pixel_offset(g, n, first_ih + r, 0)
                                    + (kw * g.dil_w - g.pad_left) * C)
    for t in range(g.k_h * g.k_w):
        taps_w[t] = periodic_w + t * period_len
    stepped = _depthwise_steps(srcs, taps_w, 0, periodic_b, o_row, o_row + g.out_w * C, g,
                               lo, hi)
    if stepped == lo:
        _depthwise_flat_row(x, periodic_w, periodic_b, period_len, NULL, out, g, row)
        _depthwise_flat_row(x, periodic_w, periodic_b, period_len, NULL, out, g, row + 1)
        return
    _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row, g, n, oh, lo, hi,
                        stepped)
    _depthwise_row_rest(x, periodic_w, periodic_b, period_len, o_row + g.out_w * C, g, n,
                        oh + 1, lo, hi, stepped)


cdef void _conv_single_channel_row(const floating* x, const floating* w, floating bias,
                                   floating* out, Window* g, Py_ssize_t row) noexcept nogil:
    """out[n, oh, :, 0] for one-channel images (C_in == C_out == 1): vectorized over width.

    The columns whose taps all land inside the image (the interior) run in register
    chunks when stride_w is 1 (the last chunk moved back to end at the interior's end),
    or else a contiguous multiply-add over the row, one tap at a time; only the few
    border columns test bounds.
    """
    cdef:
        Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h, lo, hi, ow
        bint chunked
        floating bias_row[ROW_CHUNK_MAX]
        floating* o = out + row * g.out_w
    _flat_interior(g, &lo, &hi)
    chunked = g.stride_w == 1 and hi - lo >= ROW_CHUNK
    if chunked:
        for ow in range(ROW_CHUNK):
            bias_row[ow] = bias
        _single_channel_chunks(x, w, bias_row, 1, o, g, n, oh, lo, hi)
    _single_channel_rest(x, w, bias, o, g, n, oh, lo, hi, chunked)


cdef void _conv_single_channel_pair(const floating* x, const floating* w, floating bias,
                                    floating* out, Window* g, Py_ssize_t item) noexcept nogil:
    """Output rows 2i and 2i + 1 of image n (item = n * ceil(out_h / 2) + i) of a
    one-channel image with stride_h and dil_h 1: their interiors as one-channel pairs
    where they can (_one_channel_pair), else row by row."""
    cdef:
        Py_ssize_t half = (g.out_h + 1) // 2, lo, hi, ow
        Py_ssize_t n = item // half, oh = 2 * (item % half), row = n * g.out_h + oh
        floating bias_row[ROW_CHUNK_MAX]
        floating* o = out + row * g.out_w
    _flat_interior(g, &lo, &hi)
    if oh + 1 < g.out_h:
        for ow in range(ROW_CHUNK_MAX):
            bias_row[ow] = bias
        if _one_channel_pair(x, w, bias_row, 1, o, o + g.out_w, g, n, oh, lo, hi):
            _single_channel_rest(x, w, bias, o, g, n, oh, lo, hi, True)
            _single_channel_rest(x, w, bias, o + g.out_w, g, n, oh + 1, lo, hi, True)
            return
    _conv_single_channel_row(x, w, bias, out, g, row)
    if oh + 1 < g.out_h:
        _conv_single_channel_row(x, w, bias, out, g, row + 1)


cdef void _single_channel_rest(const floating* x, const floating* w, floating bias,
                               floating* o, Window* g, Py_ssize_t n, Py_ssize_t oh,
                               Py_ssize_t lo, Py_ssize_t hi,
                               bint interior_done) noexcept nogil:
    """What the register chunks left of one-channel row (n, oh): the border columns, and
    the interior [lo, hi) too unless ``interior_done``, one tap at a time over the row."""
    cdef:
        Py_ssize_t sw = g.stride_w, ow, kh, kw, ih, iw, start
        floating wv
        const floating* x_row
        const floating* shifted
    if interior_done:
        for ow in range(lo):
            o[ow] = bias
        for ow in range(hi, g.out_w):
            o[ow] = bias
    else:
        for ow in range(g.out_w):
            o[ow] = bias
    for kh in range(g.k_h):
        ih = source_row(g, oh, kh)
        if ih < 0:
            continue
        x_row = x + pixel_offset(g, n, ih, 0)
        for kw in range(g.k_w):
            wv = w[kh * g.k_w + kw]
            start = kw * g.dil_w - g.pad_left
            if not interior_done:
                if sw == 1:
                    shifted = x_row + start
                    for ow in range(lo, hi):
                        o[ow] = _madd(wv, shifted[ow], o[ow])
                else:
                    for ow in range(lo, hi):
                        o[ow] = _madd(wv, x_row[ow * sw + start], o[ow])
            for ow in range(lo):
                iw = source_col(g, ow, kw)
                if iw >= 0:
                    o[ow] = _madd(wv, x_row[iw], o[ow])
            for ow in range(hi, g.out_w):
                iw = source_col(g, ow, kw)
                if iw >= 0:
                    o[ow] = _madd(wv, x_row[iw], o[ow])


# Colour matrices: 1x1 convolutions with C_in = C_out <= MIX_MAX_CHANNELS_* that map each
# pixel to itself run as one flat run of values (fc_channel_mix in the header). Vectors
# across channels would hold 3 or 4 useful lanes of 16, and the column blocks (which lay
# out and scatter value by value) ran a 1080p RGB->YUV at a third of PyTorch's speed.
cdef extern from "fastconv_microkernel.h" nogil:
    enum:
        MIX_MAX_CHANNELS_F32 "FC_MIX_MAX_CHANNELS_f32"
        MIX_MAX_CHANNELS_F64 "FC_MIX_MAX_CHANNELS_f64"
        MIX_VECTORS "FC_MIX_VECTORS"
    Py_ssize_t mix_phase_vectors "FC_MIX_PHASE_VECTORS"(Py_ssize_t channels)
    void channel_mix_f32 "fc_channel_mix_f32"(const float* x, Py_ssize_t begin,
        Py_ssize_t end, Py_ssize_t channels, Py_ssize_t period, const float* table,
        float* out)
    void channel_mix_f64 "fc_channel_mix_f64"(const double* x, Py_ssize_t begin,
        Py_ssize_t end, Py_ssize_t channels, Py_ssize_t period, const double* table,
        double* out)

# Values per work item of the channel mix, about (a whole number of the kernel's steps).
cdef enum:
    MIX_ITEM_VALUES = 8192


cdef inline bint _is_channel_mix(Window* g, Py_ssize_t max_channels) noexcept nogil:
    """A 1x1 convolution of C_in = C_out channels (not depthwise) that maps each pixel to
    itself: the output is the input's flat run of values, mixed within each pixel."""
    return (g.k_h == 1 and g.k_w == 1 and g.stride_h == 1 and g.stride_w == 1
            and g.out_h == g.in_h and g.out_w == g.in_w and g.in_c == g.out_c
            and 2 <= g.in_c <= max_channels and g.groups < g.in_c)


cdef inline floating _mix_value(const floating* x, const floating* w, const floating* bias,
                                Window* g, Py_ssize_t j) noexcept nogil:
    """Value j of the channel mix's output, alone (the ends of the flat run)."""
    cdef Py_ssize_t o = j % g.out_c, cin_g = g.in_c // g.groups
    cdef Py_ssize_t c0 = (o // cin_g) * cin_g, c
    cdef floating acc = bias[o]
    for c in range(cin_g):
        acc = _madd(x[j - o + c0 + c], w[c * g.out_c + o], acc)
    return acc


cdef inline Py_ssize_t _gcd(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    while b:
        a, b = b, a % b
    return a


cdef int _channel_mix(const floating* x, const floating* w, const floating* bias,
                      floating* out, Window* g, int n_threads) except -1:
    """out = the channel mix of x (see fc_channel_mix): its table of phases is built here,
    the flat run is cut into items, and the values too near either end for a vector's
    neighbours go one at a time."""
    cdef Py_ssize_t LANES = LANES_F32 if floating is float else LANES_F64
    cdef Py_ssize_t C = g.in_c, cin_g = g.in_c // g.groups
    cdef Py_ssize_t phase_len = mix_phase_vectors(C) * LANES
    cdef Py_ssize_t phase, lane, o, k, c, item, lo, j
    cdef floating* table = <floating*> calloc(C * phase_len, sizeof(floating))
    cdef floating* entry
    if table == NULL:
        raise MemoryError("conv2d: cannot allocate the channel mix's weight table")
    for phase in range(C):
        entry = table + phase * phase_len
        for lane in range(LANES):
            o = (phase + lane) % C
            entry[lane] = bias[o]
            for k in range(2 * C - 1):
                c = o + k - (C - 1)  # the input channel at offset k - (C - 1)
                if 0 <= c < C and c // cin_g == o // cin_g:
                    memset(&entry[(1 + 2 * k) * LANES + lane], 0xFF, sizeof(floating))
                    entry[(2 + 2 * k) * LANES + lane] = w[(c % cin_g) * C + o]
    cdef Py_ssize_t period = C * LANES // _gcd(C, LANES)
    cdef Py_ssize_t step = MIX_VECTORS * period
    cdef Py_ssize_t item_len = (MIX_ITEM_VALUES + step - 1) // step * step
    cdef Py_ssize_t total = g.batch * g.out_h * g.out_w * C
    cdef Py_ssize_t begin = (C - 1 + LANES - 1) // LANES * LANES
    cdef Py_ssize_t end = begin + max(0, (total - (C - 1) - begin) // step) * step
    cdef Py_ssize_t n_items = (end - begin + item_len - 1) // item_len
    try:
        with nogil:
            for item in prange(n_items, num_threads=n_threads, schedule="static"):
                lo = begin + item * item_len
                if floating is float:
                    channel_mix_f32(x, lo, min(end, lo + item_len), C, period, table, out)
                else:
                    channel_mix_f64(x, lo, min(end, lo + item_len), C, period, table, out)
            for j in range(min(begin, total)):
                out[j] = _mix_value(x, w, bias, g, j)
            for j in range(end, total):
                out[j] = _mix_value(x, w, bias, g, j)
    finally:
        free(table)
    return 0


cdef void _pack_panel_row(const floating* w, const floating* bias, floating* panels,
                          Window* g, Py_ssize_t t, Py_ssize_t n_taps, Py_ssize_t co_done,
                          Py_ssize_t chunks, Py_ssize_t panel_nr) noexcept nogil:
    """Row t of every remaining-channels panel (see conv2d_direct): tap t's weights, or
    the bias for t == n_taps. Channels past a group's end stay zero (allocated zeroed)."""
    cdef Py_ssize_t cout_g = g.out_c // g.groups, grp, chunk, j, channel
    cdef const floating* row = bias if t == n_taps else w + t * g.out_c
    cdef floating* panel
    for grp in range(g.groups):
        for chunk in range(chunks):
            panel = panels + ((grp * chunks + chunk) * (n_taps + 1) + t) * panel_nr
            for j in range(panel_nr):
                channel = co_done + chunk * panel_nr + j
                if channel >= cout_g:
                    break
                panel[j] = row[grp * cout_g + channel]


cdef void _pack_block_row(const floating* w, floating* block_panels, Py_ssize_t row_len,
                          Py_ssize_t groups, Py_ssize_t t, Py_ssize_t n_taps,
                          Py_ssize_t n_wide, bint narrow) noexcept nogil:
    """Row t of every register block's panel (see conv2d_direct): tap t's channels of each
    group's n_wide wide blocks (COUT_BLOCK each; a grouped layer's last block may hold
    fewer, zeros after them), then of its narrow block (half as many) if ``narrow``. The
    kernel's rows are ``row_len`` long, in ``groups`` equal parts."""
    cdef Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
    cdef Py_ssize_t cout_g = row_len // groups, grp, co_block, filled
    cdef Py_ssize_t group_len = n_taps * (n_wide * COUT_BLOCK + (COUT_BLOCK // 2 if narrow
                                                                 else 0))
    cdef const floating* row = w + t * row_len
    cdef floating* group_panels
    for grp in range(groups):
        group_panels = block_panels + grp * group_len
        for co_block in range(n_wide):
            filled = min(COUT_BLOCK, cout_g - co_block * COUT_BLOCK)
            memcpy(group_panels + (co_block * n_taps + t) * COUT_BLOCK,
                   row + grp * cout_g + co_block * COUT_BLOCK, filled * sizeof(floating))
            memset(group_panels + (co_block * n_taps + t) * COUT_BLOCK + filled, 0,
                   (COUT_BLOCK - filled) * sizeof(floating))
        if narrow:
            memcpy(group_panels + n_wide * n_taps * COUT_BLOCK + t * (COUT_BLOCK // 2),
                   row + grp * cout_g + n_wide * COUT_BLOCK,
                   (COUT_BLOCK // 2) * sizeof(floating))


cdef inline bint _flat_depthwise(Py_ssize_t in_c, Py_ssize_t out_c, Py_ssize_t cin_g,
                                 Py_ssize_t cout_g, Py_ssize_t k_w, Py_ssize_t stride_w,
                                 Py_ssize_t dil_w, Py_ssize_t cout_block,
                                 bint f32) noexcept nogil:
    """Whether a layer runs as flat depthwise rows (_depthwise_flat_row): depthwise with
    multiplier 1 and stride_w 1, its channels not filling whole register blocks, unless
    its kernel is wide enough, and its channels many enough, for masked sweeps."""
    if (in_c == 1 and out_c == 1) or cin_g != 1 or cout_g != 1 or stride_w != 1:
        return False
    if out_c % cout_block == 0:
        return False
    if k_w < SWEEP_MIN_KERNEL_WIDTH or out_c < SWEEP_MIN_CHANNELS:
        return True
    return not (_has_depthwise_sweep(k_w, stride_w, dil_w, False, f32)
                or _has_depthwise_sweep(k_w, stride_w, dil_w, True, f32))


cdef inline bint _reads_source_maps(Py_ssize_t in_c, Py_ssize_t out_c, Py_ssize_t cin_g,
                                    Py_ssize_t cout_g, Py_ssize_t k_w, Py_ssize_t stride_w,
                                    Py_ssize_t dil_w, Py_ssize_t cout_block,
                                    bint f32) noexcept nogil:
    """Whether the layer's kernel takes its border from the window's source maps: the
    one-channel rows and the flat depthwise rows, whose border pixels go tap by tap."""
    return ((in_c == 1 and out_c == 1)
            or _flat_depthwise(in_c, out_c, cin_g, cout_g, k_w, stride_w, dil_w, cout_block,
                               f32))


def pads_from_source_maps(tuple x_shape, tuple w_shape, Py_ssize_t stride_w,
                          Py_ssize_t dil_w, Py_ssize_t itemsize):
    """Whether conv2d_direct can take this layer's border from ``row_source`` and
    ``col_source`` (any np.pad mode but a constant) instead of zeros."""
    cdef Py_ssize_t in_c = x_shape[3], cin_g = w_shape[2], out_c = w_shape[3]
    if cin_g < 1 or in_c % cin_g or out_c % (in_c // cin_g):
        return False
    return _reads_source_maps(in_c, out_c, cin_g, out_c // (in_c // cin_g), w_shape[1],
                              stride_w, dil_w,
                              COUT_BLOCK_F32 if itemsize == 4 else COUT_BLOCK_F64,
                              itemsize == 4)


cdef int _check_source_map(const Py_ssize_t[::1] source, Py_ssize_t n_read,
                           Py_ssize_t size, str axis) except -1:
    """A border map must cover every padded position the kernel reads and name only
    real rows or columns: the kernel indexes the input with its values unchecked."""
    cdef Py_ssize_t i
    if source.shape[0] < n_read:
        raise ValueError(f"kernel contract: {axis}_source has {source.shape[0]} positions "
                         f"for {n_read} read")
    for i in range(n_read):
        if not inside(source[i], size):
            raise ValueError(f"kernel contract: {axis}_source[{i}] = {source[i]} is not "
                             f"in [0, {size})")
    return 0


def conv2d_direct(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                  const floating[::1] bias, floating[:, :, :, ::1] out,
                  tuple stride, tuple dilation, tuple pad_top_left, Py_ssize_t groups,
                  int n_threads, const Py_ssize_t[::1] row_source=None,
                  const Py_ssize_t[::1] col_source=None):
    """out = conv2d(x, w) + bias, written in place. Shapes are trusted (checked in Python).

    The padding is zeros, or, with ``row_source`` and ``col_source`` (for layers where
    pads_from_source_maps holds), the input rows and columns they name for each padded
    position, counted from the first."""
    cdef Window g = make_window(x.shape, out.shape, (w.shape[0], w.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, w.shape[2], w.shape[3], bias.shape[0])
    if (row_source is None) != (col_source is None):
        raise ValueError("kernel contract: row_source and col_source come together")
    if row_source is not None:
        if not _reads_source_maps(g.in_c, g.out_c, w.shape[2], g.out_c // g.groups, g.k_w,
                                  g.stride_w, g.dil_w,
                                  COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64,
                                  floating is float):
            raise ValueError("kernel contract: this layer's kernel pads with zeros only")
        if g.out_h and g.out_w:
            _check_source_map(row_source,
                              (g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1,
                              g.in_h, "row")
            _check_source_map(col_source,
                              (g.out_w - 1) * g.stride_w + (g.k_w - 1) * g.dil_w + 1,
                              g.in_w, "col")
            g.row_source = &row_source[0]
            g.col_source = &col_source[0]
    if _is_channel_mix(&g, MIX_MAX_CHANNELS_F32 if floating is float else MIX_MAX_CHANNELS_F64):
        _channel_mix(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &bias[0], &out[0, 0, 0, 0], &g,
                     n_threads)
        return
    cdef Py_ssize_t row
    cdef bint single_channel = g.in_c == 1 and g.out_c == 1
    # Read-only stand-in for a padding pixel, shared by all threads: the multi-channel
    # blocks read C_in/groups values from it, the depthwise blocks a channel block.
    cdef floating* zeros = <floating*> calloc(max(w.shape[2], <Py_ssize_t> COUT_BLOCK_MAX),
                                              sizeof(floating))
    if zeros == NULL:
        raise MemoryError("conv2d: cannot allocate the direct kernel's zero pixel")
    # Where each tap (kh, kw, c) of a window lies relative to its top-left corner, for
    # register blocks inside the image. Huge kernels go without: their kernel rows are
    # long loops already.
    cdef Py_ssize_t kh, kw, c, cin_g = w.shape[2]
    cdef Py_ssize_t n_taps = g.k_h * g.k_w * cin_g
    cdef Py_ssize_t* tap_offsets = NULL
    if not single_channel and n_taps <= MAX_TAP_TABLE:
        tap_offsets = <Py_ssize_t*> malloc(n_taps * sizeof(Py_ssize_t))
        if tap_offsets == NULL:
            free(zeros)
            raise MemoryError("conv2d: cannot allocate the direct kernel's tap table")
        for kh in range(g.k_h):
            for kw in range(g.k_w):
                for c in range(cin_g):
                    tap_offsets[(kh * g.k_w + kw) * cin_g + c] = (
                        pixel_offset(&g, 0, kh * g.dil_h, kw * g.dil_w) + c)
    # Column blocks for the narrowest layers (see _conv_columns_row): each group's weights
    # packed per channel chunk, a tap table into the laid-out rows, and those rows' buffer
    # for each thread.
    cdef Py_ssize_t COLUMN_PIXELS = COLUMN_PIXELS_F32 if floating is float else COLUMN_PIXELS_F64
    cdef Py_ssize_t column_row_len = _column_row_len(&g, COLUMN_PIXELS)
    cdef Py_ssize_t column_rows_len = g.k_h * cin_g * g.stride_w * column_row_len
    cdef Py_ssize_t LANES = LANES_F32 if floating is float else LANES_F64
    cdef Py_ssize_t n_bands, band_min
    _band_geometry(&g, COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64, &n_bands,
                   &band_min)
    cdef bint grouped = (_use_grouped_blocks(&g, COUT_BLOCK_F32 if floating is float
                                             else COUT_BLOCK_F64, LANES)
                         and band_min >= WIDE_PIX_BLOCK)
    cdef bint use_columns = (not grouped and not single_channel
                             and not (cin_g == 1 and w.shape[3] == g.groups)
                             and w.shape[3] // g.groups <= COLUMN_MAX_COUT
                             and g.out_w >= COLUMN_PIXELS
                             and column_rows_len * <Py_ssize_t> sizeof(floating)
                             <= COLUMN_MAX_ROWS_BYTES)
    cdef floating* column_w = NULL
    cdef floating* column_rows = NULL
    cdef Py_ssize_t* column_taps = NULL
    cdef Py_ssize_t col_co0, col_chunk, col_c, col_t, col_pos, col_grp, col_channel
    if use_columns:
        column_w = <floating*> malloc(w.shape[3] * (n_taps + 1) * sizeof(floating))
        column_taps = <Py_ssize_t*> malloc(n_taps * sizeof(Py_ssize_t))
        column_rows = <floating*> calloc(max(n_threads, 1) * column_rows_len, sizeof(floating))
        if column_w == NULL or column_taps == NULL or column_rows == NULL:
            free(column_w)
            free(column_taps)
            free(column_rows)
            free(zeros)
            free(tap_offsets)
            raise MemoryError("conv2d: cannot allocate the direct kernel's column blocks")
        for kh in range(g.k_h):
            for kw in range(g.k_w):
                for c in range(cin_g):
                    column_taps[(kh * g.k_w + kw) * cin_g + c] = (
                        ((kh * cin_g + c) * g.stride_w + (kw * g.dil_w) % g.stride_w)
                        * column_row_len + (kw * g.dil_w) // g.stride_w)
        col_pos = 0
        for col_grp in range(g.groups):
            col_co0 = 0
            while col_co0 < w.shape[3] // g.groups:
                col_chunk = _column_chunk(w.shape[3] // g.groups - col_co0)
                col_channel = col_grp * (w.shape[3] // g.groups) + col_co0
                for col_t in range(n_taps):
                    for col_c in range(col_chunk):
                        column_w[col_pos + col_t * col_chunk + col_c] = (&w[0, 0, 0, 0])[
                            col_t * g.out_c + col_channel + col_c]
                for col_c in range(col_chunk):
                    column_w[col_pos + n_taps * col_chunk + col_c] = bias[col_channel + col_c]
                col_pos += col_chunk * (n_taps + 1)
                col_co0 += col_chunk
    # A group's channels past its wide and narrow blocks, packed once per call into
    # zero-padded panels of panel_nr channels (weights tap by tap, then the bias), so
    # that any C_out runs in register blocks (see _channel_split). Both packings go tap
    # by tap, reading each row of the kernel once, by all the threads when the kernel is
    # large: packing a 3x3x512x512 kernel (9 MiB) took 1.7 ms on one thread, a quarter
    # of the layer's time at batch 4 on 7x7 maps.
    cdef Py_ssize_t weight_bytes = n_taps * g.out_c * <Py_ssize_t> sizeof(floating)
    cdef int pack_threads = n_threads if weight_bytes > THREADED_PACK_BYTES else 1
    cdef Py_ssize_t COUT_BLOCK = COUT_BLOCK_F32 if floating is float else COUT_BLOCK_F64
    cdef Py_ssize_t co_full, co_done, panel_nr, chunks = 0, t
    cdef Py_ssize_t cout_g = g.out_c // g.groups
    cdef floating* panels = NULL
    _channel_split(&g, COUT_BLOCK, band_min, &co_full, &co_done, &panel_nr)
    if (panel_nr and not single_channel and not (cin_g == 1 and cout_g == 1) and not use_columns
            and not grouped):
        chunks = (cout_g - co_done + panel_nr - 1) // panel_nr
        panels = <floating*> fc_aligned_calloc(g.groups * chunks * (n_taps + 1) * panel_nr,
                                               sizeof(floating))
        if panels == NULL:
            free(zeros)
            free(tap_offsets)
            raise MemoryError("conv2d: cannot allocate the direct kernel's weight panels")
        if pack_threads > 1:
            for t in prange(n_taps + 1, nogil=True, num_threads=pack_threads,
                            schedule="static"):
                _pack_panel_row(&w[0, 0, 0, 0], &bias[0], panels, &g, t, n_taps, co_done,
                                chunks, panel_nr)
        else:
            for t in range(n_taps + 1):
                _pack_panel_row(&w[0, 0, 0, 0], &bias[0], panels, &g, t, n_taps, co_done,
                                chunks, panel_nr)
    # The register blocks' weights, packed once per call into contiguous panels of their
    # channels (tap by tap), group by group, when the kernel's rows are longer than the
    # blocks: read in place, a block's weight rows lie C_out apart. On a 3x3x256x256 layer
    # streaming those strided rows halved the kernel's speed, and on grouped layers
    # (ResNeXt) rows 2-4 KiB apart fall into a few of L1's sets and miss it on every tap.
    # Grouped blocks (_grouped_band) take a grouped layer's kernel as one group's, its
    # rows (kh, kw, r) of C_out channels cut into blocks.
    cdef floating* block_panels = NULL
    cdef Py_ssize_t n_wide = (_grouped_parts(&g, COUT_BLOCK) if grouped
                              else co_full // COUT_BLOCK)
    cdef bint narrow = not grouped and co_done > co_full
    cdef Py_ssize_t pack_groups = 1 if grouped else g.groups
    if ((grouped or (n_wide and g.out_c > COUT_BLOCK) or (narrow and g.out_c > COUT_BLOCK // 2))
            and not single_channel and not (cin_g == 1 and cout_g == 1) and not use_columns):
        block_panels = <floating*> fc_aligned_alloc(
            pack_groups * n_taps * (n_wide * COUT_BLOCK + (COUT_BLOCK // 2 if narrow else 0))
            * sizeof(floating))
        if block_panels == NULL:
            free(zeros)
            free(tap_offsets)
            fc_aligned_free(panels)
            raise MemoryError("conv2d: cannot allocate the direct kernel's weight panels")
        if pack_threads > 1:
            for t in prange(n_taps, nogil=True, num_threads=pack_threads, schedule="static"):
                _pack_block_row(&w[0, 0, 0, 0], block_panels, g.out_c, pack_groups, t, n_taps,
                                n_wide, narrow)
        else:
            for t in range(n_taps):
                _pack_block_row(&w[0, 0, 0, 0], block_panels, g.out_c, pack_groups, t, n_taps,
                                n_wide, narrow)
    # Depthwise layers (stride_w 1) whose channels do not fill whole register blocks,
    # unless they take masked sweeps (_flat_depthwise), run as flat rows
    # (_depthwise_flat_row), two at a time where they can (depthwise pairs,
    # _depthwise_flat_pair), with each tap's weights repeated with period C.
    cdef Py_ssize_t ROW_CHUNK = ROW_CHUNK_F32 if floating is float else ROW_CHUNK_F64
    cdef bint flat_depthwise = _flat_depthwise(g.in_c, g.out_c, cin_g, cout_g, g.k_w,
                                               g.stride_w, g.dil_w, COUT_BLOCK,
                                               floating is float)
    cdef Py_ssize_t period_len = ROW_CHUNK + g.out_c, tap, i
    cdef floating* periodic = NULL
    if flat_depthwise:
        # The taps' and the bias's periodic rows, then room for uniform_w (below).
        periodic = <floating*> malloc(((g.k_h * g.k_w + 1) * period_len + g.k_h * g.k_w)
                                      * sizeof(floating))
        if periodic == NULL:
            free(zeros)
            free(tap_offsets)
            fc_aligned_free(panels)
            fc_aligned_free(block_panels)
            raise MemoryError("conv2d: cannot allocate the depthwise kernel's weight rows")
        for tap in range(g.k_h * g.k_w):
            for i in range(period_len):
                periodic[tap * period_len + i] = (&w[0, 0, 0, 0])[tap * g.out_c + i % g.out_c]
        for i in range(period_len):
            periodic[g.k_h * g.k_w * period_len + i] = bias[i % g.out_c]
    # Every channel filtered by one kernel (a colour image through a blur): the taps'
    # weights once each, for _uniform_interior. Compared bit by bit, so that -0.0 and
    # NaN weights take the general path.
    cdef floating* uniform_w = NULL
    if flat_depthwise and _one_kernel_per_channel(&w[0, 0, 0, 0], g.k_h * g.k_w, g.out_c):
        uniform_w = periodic + (g.k_h * g.k_w + 1) * period_len
        for tap in range(g.k_h * g.k_w):
            uniform_w[tap] = (&w[0, 0, 0, 0])[tap * g.out_c]
    # Work items: (part, band) pairs, part-major (see _conv_band), for the register
    # blocks; (group, row) pairs for column blocks; pairs of rows for depthwise and
    # one-channel pairs; rows for the other kernels.
    cdef bint depthwise = cin_g == 1 and cout_g == 1
    cdef bint banded = not (single_channel or depthwise or use_columns)
    cdef bint pairs = (flat_depthwise or single_channel) and _pairs_rows(&g)
    cdef Py_ssize_t rows = (n_bands if banded else g.batch * ((g.out_h + 1) // 2) if pairs
                            else g.batch * g.out_h)
    cdef Py_ssize_t item
    cdef Py_ssize_t n_parts = 1
    if grouped:
        n_parts = _grouped_parts(&g, COUT_BLOCK)
    elif use_columns:
        n_parts = g.groups
    elif banded:
        n_parts = g.groups * _parts_per_group(&g, COUT_BLOCK, band_min)
    # Band-major when all the weights stay in L2: a band's parts run together, so its
    # input is read once from memory and its output pixels are written whole.
    cdef bint band_major = banded and weight_bytes <= BAND_MAJOR_WEIGHT_BYTES
    cdef Py_ssize_t part
    try:
        with nogil:
            for item in prange(rows * n_parts, num_threads=n_threads, schedule="guided"):
                row = item % rows
                part = item // rows
                if band_major:
                    row = item // n_parts
                    part = item % n_parts
                if grouped:
                    _grouped_band(&x[0, 0, 0, 0], block_panels, &bias[0], zeros,
                                  &out[0, 0, 0, 0], &g, row, n_bands, part)
                elif use_columns:
                    _conv_columns_row(&x[0, 0, 0, 0], column_w, column_taps,
                                      column_rows + threadid() * column_rows_len,
                                      &out[0, 0, 0, 0], &g, row, part)
                elif pairs and single_channel:
                    _conv_single_channel_pair(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bias[0],
                                              &out[0, 0, 0, 0], &g, row)
                elif pairs:
                    _depthwise_flat_pair(&x[0, 0, 0, 0], periodic,
                                         periodic + g.k_h * g.k_w * period_len, period_len,
                                         uniform_w, &out[0, 0, 0, 0], &g, row)
                elif flat_depthwise:
                    _depthwise_flat_row(&x[0, 0, 0, 0], periodic,
                                        periodic + g.k_h * g.k_w * period_len, period_len,
                                        uniform_w, &out[0, 0, 0, 0], &g, row)
                elif single_channel:
                    _conv_single_channel_row(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bias[0],
                                             &out[0, 0, 0, 0], &g, row)
                elif depthwise:
                    _depthwise_row(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &bias[0], zeros,
                                   tap_offsets, &out[0, 0, 0, 0], &g, row)
                else:
                    _conv_band(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &bias[0], zeros, tap_offsets,
                               panels, block_panels, &out[0, 0, 0, 0], &g, row, n_bands,
                               band_min, part)
    finally:
        free(zeros)
        free(tap_offsets)
        fc_aligned_free(panels)
        fc_aligned_free(block_panels)
        free(periodic)
        free(column_w)
        free(column_taps)
        free(column_rows)
