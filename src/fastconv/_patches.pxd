"""im2col's packing of receptive fields, shared by the forward kernel (_im2col) and the
weight gradient (_grad): one definition of the patch matrix's layout."""
from cython cimport floating
from libc.string cimport memcpy, memset

from fastconv._geometry cimport Window, input_col, input_row, inside, pixel_offset


cdef inline void pack_patches(const floating* x, Window* g, Py_ssize_t first_row,
                              Py_ssize_t n_rows, Py_ssize_t grp,
                              floating* patches) noexcept nogil:
    """patches[r, (kh*KW + kw)*cin_g + c] = x[n, ih, iw, grp*cin_g + c], or 0 in the padding:
    the receptive field of output pixel first_row + r, in the kernel's (kh, kw, c) order."""
    cdef:
        Py_ssize_t cin_g = g.in_c // g.groups
        Py_ssize_t k_len = g.k_h * g.k_w * cin_g
        Py_ssize_t plane = g.out_h * g.out_w
        Py_ssize_t r, n, oh, ow, kh, kw, ih, iw
        bint row_inside
        floating* dst
    # The pixel's (n, oh, ow) advance by one step per row: no divisions per pixel, which
    # cost more than the copies on narrow layers (3x3x1x32: 9 values a row).
    n = first_row // plane
    oh = (first_row % plane) // g.out_w
    ow = first_row % g.out_w
    for r in range(n_rows):
        if r > 0:
            ow += 1
            if ow == g.out_w:
                ow = 0
                oh += 1
                if oh == g.out_h:
                    oh = 0
                    n += 1
        dst = patches + r * k_len
        row_inside = (g.dil_w == 1 and inside(input_col(g, ow, 0), g.in_w)
                      and inside(input_col(g, ow, g.k_w - 1), g.in_w))
        for kh in range(g.k_h):
            ih = input_row(g, oh, kh)
            if row_inside and inside(ih, g.in_h):
                # The kernel row's taps are one run of k_w * cin_g values when C_in is
                # one group: one copy, not k_w small ones (RGB, one channel).
                if cin_g == g.in_c:
                    _copy(dst, x + pixel_offset(g, n, ih, input_col(g, ow, 0)), g.k_w * cin_g)
                    dst += g.k_w * cin_g
                    continue
            for kw in range(g.k_w):
                iw = input_col(g, ow, kw)
                if inside(ih, g.in_h) and inside(iw, g.in_w):
                    _copy(dst, x + pixel_offset(g, n, ih, iw) + grp * cin_g, cin_g)
                else:
                    memset(dst, 0, cin_g * sizeof(floating))
                dst += cin_g


cdef inline void _copy(floating* dst, const floating* src, Py_ssize_t count) noexcept nogil:
    """memcpy, but a plain loop for the few values of a narrow layer's tap, where the
    library call cost more than the copy."""
    cdef Py_ssize_t i
    if count >= 16:
        memcpy(dst, src, count * sizeof(floating))
    else:
        for i in range(count):
            dst[i] = src[i]
