"""The one BLAS doorway: row-major GEMM over scipy.linalg.cython_blas."""
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm_rowmajor(int m, int n, int k,
                               const floating* a, int lda,
                               const floating* b, int ldb,
                               floating beta, floating* c, int ldc) noexcept nogil:
    """C = A @ B + beta * C, all row-major: A is m x k, B is k x n, C is m x n.

    BLAS is column-major, and a row-major matrix is its transpose seen column-major,
    so compute C^T = B^T A^T by swapping the operands: no transposes, no copies.
    """
    cdef char no_trans = b'N'
    cdef floating one = 1
    if floating is float:
        sgemm(&no_trans, &no_trans, &n, &m, &k, &one, <float*> b, &ldb,
              <float*> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&no_trans, &no_trans, &n, &m, &k, &one, <double*> b, &ldb,
              <double*> a, &lda, &beta, c, &ldc)


cdef inline void gemm_rowmajor_op(bint trans_a, bint trans_b, int m, int n, int k,
                                  const floating* a, int lda,
                                  const floating* b, int ldb,
                                  floating beta, floating* c, int ldc) noexcept nogil:
    """C = op(A) @ op(B) + beta * C, all row-major; op transposes when asked.

    op(A) is m x k and op(B) is k x n. The row-major trick of ``gemm_rowmajor`` again,
    with the transposes passed through: the operands swap places and each keeps its
    own flag, since C^T = op(B)^T op(A)^T and a row-major operand seen column-major is
    already its transpose.
    """
    cdef char op_a = b'T' if trans_a else b'N'
    cdef char op_b = b'T' if trans_b else b'N'
    cdef floating one = 1
    if floating is float:
        sgemm(&op_b, &op_a, &n, &m, &k, &one, <float*> b, &ldb,
              <float*> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&op_b, &op_a, &n, &m, &k, &one, <double*> b, &ldb,
              <double*> a, &lda, &beta, c, &ldc)
