"""im2col convolution: patches times weights as a matrix product, tile by tile.

The output, flattened to M = N*OH*OW rows of C_out, is cut into tiles of rows.
For each tile (and group) the receptive fields are packed into a small
row-major patch matrix (rows x K, K = KH*KW*C_in/groups, in the kernel's own
(kh, kw, c) order) and multiplied by the HWIO kernel seen as a K x C_out
matrix; the GEMM writes straight into the NHWC output rows. The full patch
matrix is never built: one tile per thread bounds the workspace.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from fastconv._blas cimport gemm_rowmajor
from fastconv._patches cimport pack_patches
from fastconv._geometry cimport Window, check_conv_contract, make_window

cdef void _conv_tile(const floating* x, const floating* w, const floating* bias, floating* out,
                     Window* g, Py_ssize_t first_row, Py_ssize_t n_rows,
                     floating* patches) noexcept nogil:
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups, cout_g = g.out_c // g.groups
        int k_len = <int> (g.k_h * g.k_w * cin_g)
        Py_ssize_t r, grp
        floating* out_rows = out + first_row * g.out_c
        # A 1x1 kernel with unit stride and no padding reads each input pixel once, in
        # output order: the NHWC input already is the patch matrix (lda = C_in).
        bint pointwise = (g.k_h == 1 and g.k_w == 1 and g.stride_h == 1 and g.stride_w == 1
                          and g.pad_top == 0 and g.pad_left == 0
                          and g.out_h == g.in_h and g.out_w == g.in_w)
    for r in range(n_rows):
        memcpy(out_rows + r * g.out_c, bias, g.out_c * sizeof(floating))
    for grp in range(g.groups):
        if pointwise:
            gemm_rowmajor(<int> n_rows, <int> cout_g, k_len, x + first_row * g.in_c + grp * cin_g,
                          <int> g.in_c, w + grp * cout_g, <int> g.out_c, 1,
                          out_rows + grp * cout_g, <int> g.out_c)
            continue
        pack_patches(x, g, first_row, n_rows, grp, patches)
        gemm_rowmajor(<int> n_rows, <int> cout_g, k_len, patches, k_len,
                      w + grp * cout_g, <int> g.out_c, 1, out_rows + grp * cout_g, <int> g.out_c)


def conv2d_im2col(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                  const floating[::1] bias, floating[:, :, :, ::1] out,
                  tuple stride, tuple dilation, tuple pad_top_left, Py_ssize_t groups,
                  Py_ssize_t rows_per_tile, int n_threads):
    """out = conv2d(x, w) + bias, written in place, ``rows_per_tile`` output pixels per GEMM.

    The workspace is n_threads * rows_per_tile * K values. K = KH*KW*C_in/groups and
    C_out must fit a BLAS int (the caller checks).
    """
    cdef Window g = make_window(x.shape, out.shape, (w.shape[0], w.shape[1]),
                                stride, dilation, pad_top_left, groups)
    check_conv_contract(&g, w.shape[2], w.shape[3], bias.shape[0])
    if rows_per_tile < 1 or rows_per_tile > 2**31 - 1 or n_threads < 1:
        raise ValueError("kernel contract: rows_per_tile must fit a BLAS int and n_threads >= 1")
    rows_per_tile = min(rows_per_tile, g.batch * g.out_h * g.out_w)
    cdef:
        Py_ssize_t k_len = g.k_h * g.k_w * (g.in_c // g.groups)
        Py_ssize_t total_rows = g.batch * g.out_h * g.out_w
        Py_ssize_t n_tiles = (total_rows + rows_per_tile - 1) // rows_per_tile
        Py_ssize_t tile, first
        int team = <int> min(<Py_ssize_t> n_threads, n_tiles)
        floating* workspace = <floating*> malloc(team * rows_per_tile * k_len * sizeof(floating))
    if workspace == NULL:
        raise MemoryError("conv2d: cannot allocate the im2col workspace")
    try:
        with nogil:
            for tile in prange(n_tiles, num_threads=team, schedule="dynamic"):
                first = tile * rows_per_tile
                _conv_tile(&x[0, 0, 0, 0], &w[0, 0, 0, 0], &bias[0], &out[0, 0, 0, 0], &g,
                           first, min(rows_per_tile, total_rows - first),
                           workspace + threadid() * rows_per_tile * k_len)
    finally:
        free(workspace)
