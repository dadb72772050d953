# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""An example of user Cython code built on fastact's Cython API (fastact/cy.pxd).

Three small pieces of an inference / training loop, each one pass over memory, without the GIL:

* ``bias_gelu_(h, bias)``: h = gelu(h + bias) in place, with the *scalar* function inlined in
  our own loop (the fused bias add is what the scalar API is for);
* ``celu_(h, alpha)``: h = celu(h, alpha) in place, with the *array kernel* (it validates alpha:
  ValueError for alpha = 0, as fastact.celu);
* ``silu_backward_(grad, x)``: grad = dL/dx of silu, in place on grad.
"""
from fastact.cy cimport gelu, celu_inplace, silu_backward_inplace
from cython cimport floating


def bias_gelu_(floating[:, ::1] h, const floating[::1] bias):
    """h = gelu(h + bias) in place (bias along the last axis); returns None."""
    if bias.shape[0] != h.shape[1]:
        raise ValueError(f"bias has {bias.shape[0]} entries, h has {h.shape[1]} columns")
    cdef Py_ssize_t r, j, cols = h.shape[1]
    cdef floating* row
    with nogil:
        for r in range(h.shape[0]):
            row = &h[r, 0]
            for j in range(cols):
                row[j] = gelu(row[j] + bias[j])


def celu_(floating[::1] h, double alpha=1.0):
    """h = celu(h, alpha) in place on a contiguous 1-D array."""
    if h.shape[0]:
        with nogil:
            celu_inplace(&h[0], h.shape[0], alpha)


def silu_backward_(floating[::1] grad, const floating[::1] x):
    """grad = grad * silu'(x) in place."""
    if grad.shape[0] != x.shape[0]:
        raise ValueError("grad and x differ in length")
    if grad.shape[0]:
        with nogil:
            silu_backward_inplace(&grad[0], &x[0], grad.shape[0])
