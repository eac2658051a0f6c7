"""The joint Kelly solver's Newton systems, compiled: assembling one and solving with it.

Each step of the joint solver (`keiba.themis.joint`) builds the system (RᵀDR + diag θ) u = h over
its active columns and solves it once or twice. Written with numpy, a step is a few hundred
small array operations whose Python overhead, not their arithmetic, is most of a decision's
time; here each is one compiled loop over the same lists of nonzeros (numba, compiled on first
use and cached on disk). The dense block's Cholesky factorisation and its solves stay with
LAPACK (scipy), called once per system and once per solve.

The loops are the elimination described in `keiba.themis.joint`: private tickets (one outcome
each) by Sherman–Morrison outcome by outcome, then the diagonal block, leaving the dense block's
Schur complement, cash last. Every sum runs in a fixed order, one thread: the same inputs give
the same bits on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["compiled"]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]

_compiled: dict[str, Callable[..., Any]] = {}


def compiled() -> dict[str, Callable[..., Any]]:
    """The compiled kernels by name (compiled, or read from numba's cache, on first call)."""
    if not _compiled:
        import numba

        jit = numba.njit(cache=True, nogil=True, boundscheck=False)
        _compiled.update(
            assemble=jit(assemble),
            forward=jit(forward),
            backward=jit(backward),
        )
    return _compiled


def assemble(
    d: FloatArray,
    theta: FloatArray,
    private: IndexArray,
    p_row: IndexArray,
    p_val: FloatArray,
    diag: IndexArray,
    dense: IndexArray,
    rd_ptr: IndexArray,
    rd_row: IndexArray,
    rd_val: FloatArray,
    rd2_val: FloatArray,
    rq_ptr: IndexArray,
    rq_row: IndexArray,
    rq_val: FloatArray,
    qq_row: IndexArray,
    qq_cell: IndexArray,
    qq_val: FloatArray,
    qd_row: IndexArray,
    qd_entry: IndexArray,
    qd_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
    c_first: IndexArray,
    c_second: IndexArray,
    c_cell: IndexArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The dense block's Schur complement (cash last), and what the solves need: the outcomes'
    weights after the private tickets are eliminated, the diagonal block, the diagonal block's
    coupling to the cash and the nonzeros of its coupling to the dense block."""
    n_out = d.size
    s_out = np.zeros(n_out)
    for i in range(private.size):
        s_out[p_row[i]] += p_val[i] * p_val[i] / theta[private[i]]
    d_eff = np.empty(n_out)
    for w in range(n_out):
        d_eff[w] = d[w] / (1.0 + d[w] * s_out[w])
    n_d, n = diag.size, dense.size
    m_d, cash = np.empty(n_d), np.empty(n_d)
    for j in range(n_d):
        squares, plain = 0.0, 0.0
        for e in range(rd_ptr[j], rd_ptr[j + 1]):
            squares += rd2_val[e] * d_eff[rd_row[e]]
            plain += rd_val[e] * d_eff[rd_row[e]]
        m_d[j] = squares + theta[diag[j]]
        cash[j] = plain
    values = np.zeros(c_a.size)
    for e in range(qd_row.size):
        values[qd_entry[e]] += d_eff[qd_row[e]] * qd_val[e]
    q = n - 1
    upper = np.zeros(q * q)
    for e in range(qq_row.size):
        upper[qq_cell[e]] += d_eff[qq_row[e]] * qq_val[e]
    correction = np.zeros(q * q)
    for e in range(c_first.size):
        first = c_first[e]
        correction[c_cell[e]] += values[first] / m_d[c_t[first]] * values[c_second[e]]
    schur = np.empty((n, n))
    for i in range(q):
        for j in range(i, q):
            schur[i, j] = upper[i * q + j] - correction[i * q + j]
            schur[j, i] = schur[i, j]
    by_cash = np.zeros(q)
    for e in range(c_a.size):
        by_cash[c_a[e]] += values[e] * (cash[c_t[e]] / m_d[c_t[e]])
    for i in range(q):
        column = 0.0
        for e in range(rq_ptr[i], rq_ptr[i + 1]):
            column += rq_val[e] * d_eff[rq_row[e]]
        schur[i, q] = column - by_cash[i]
        schur[q, i] = schur[i, q]
    total, through = 0.0, 0.0
    for w in range(n_out):
        total += d_eff[w]
    for j in range(n_d):
        through += cash[j] * (cash[j] / m_d[j])
    schur[q, q] = total - through
    for i in range(n):
        schur[i, i] += theta[dense[i]]
    return schur, d_eff, m_d, cash, values


def forward(
    h: FloatArray,
    d_eff: FloatArray,
    theta: FloatArray,
    m_d: FloatArray,
    cash: FloatArray,
    values: FloatArray,
    private: IndexArray,
    p_row: IndexArray,
    p_val: FloatArray,
    diag: IndexArray,
    dense: IndexArray,
    rd_ptr: IndexArray,
    rd_row: IndexArray,
    rd_val: FloatArray,
    rq_ptr: IndexArray,
    rq_row: IndexArray,
    rq_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
) -> tuple[FloatArray, FloatArray]:
    """For right-hand sides h (columns × k): the dense block's right-hand side after the private
    tickets and the diagonal block are eliminated, and the diagonal block's own."""
    n_out, k = d_eff.size, h.shape[1]
    n_d, n = diag.size, dense.size
    q = n - 1
    corr = np.zeros((n_out, k))
    for i in range(private.size):
        column, w = private[i], p_row[i]
        for c in range(k):
            corr[w, c] += p_val[i] * h[column, c] / theta[column]
    for w in range(n_out):
        for c in range(k):
            corr[w, c] *= d_eff[w]
    rhs_d = np.empty((n_d, k))
    for j in range(n_d):
        for c in range(k):
            acc = 0.0
            for e in range(rd_ptr[j], rd_ptr[j + 1]):
                acc += rd_val[e] * corr[rd_row[e], c]
            rhs_d[j, c] = h[diag[j], c] - acc
    rhs_q = np.empty((n, k))
    for i in range(q):
        for c in range(k):
            acc = 0.0
            for e in range(rq_ptr[i], rq_ptr[i + 1]):
                acc += rq_val[e] * corr[rq_row[e], c]
            rhs_q[i, c] = h[dense[i], c] - acc
    for c in range(k):
        acc = 0.0
        for w in range(n_out):
            acc += corr[w, c]
        rhs_q[q, c] = h[dense[q], c] - acc
    for e in range(c_a.size):
        for c in range(k):
            rhs_q[c_a[e], c] -= values[e] * (rhs_d[c_t[e], c] / m_d[c_t[e]])
    for j in range(n_d):
        for c in range(k):
            rhs_q[q, c] -= cash[j] * (rhs_d[j, c] / m_d[j])
    return rhs_q, rhs_d


def backward(
    h: FloatArray,
    u_q: FloatArray,
    rhs_d: FloatArray,
    d: FloatArray,
    d_eff: FloatArray,
    theta: FloatArray,
    m_d: FloatArray,
    cash: FloatArray,
    values: FloatArray,
    private: IndexArray,
    p_row: IndexArray,
    p_val: FloatArray,
    alone: NDArray[np.bool_],
    diag: IndexArray,
    dense: IndexArray,
    rd_ptr: IndexArray,
    rd_row: IndexArray,
    rd_val: FloatArray,
    rq_ptr: IndexArray,
    rq_row: IndexArray,
    rq_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
) -> FloatArray:
    """The solution u from the dense block's `u_q`: the diagonal block's, then each private
    ticket's (by Sherman–Morrison within its outcome)."""
    n_out, k = d_eff.size, h.shape[1]
    n_d, n = diag.size, dense.size
    q = n - 1
    u = np.empty(h.shape)
    u_d = np.empty((n_d, k))
    for j in range(n_d):
        for c in range(k):
            u_d[j, c] = rhs_d[j, c] - cash[j] * u_q[q, c]
    for e in range(c_a.size):
        for c in range(k):
            u_d[c_t[e], c] -= values[e] * u_q[c_a[e], c]
    for j in range(n_d):
        for c in range(k):
            u_d[j, c] /= m_d[j]
            u[diag[j], c] = u_d[j, c]
    v = np.empty((n_out, k))
    for w in range(n_out):
        for c in range(k):
            v[w, c] = u_q[q, c]
    for i in range(q):
        for e in range(rq_ptr[i], rq_ptr[i + 1]):
            for c in range(k):
                v[rq_row[e], c] += rq_val[e] * u_q[i, c]
    for j in range(n_d):
        for e in range(rd_ptr[j], rd_ptr[j + 1]):
            for c in range(k):
                v[rd_row[e], c] += rd_val[e] * u_d[j, c]
    for i in range(n):
        for c in range(k):
            u[dense[i], c] = u_q[i, c]
    r_p = np.empty((private.size, k))
    shared = np.zeros((n_out, k))
    for i in range(private.size):
        column, w, o = private[i], p_row[i], p_val[i]
        for c in range(k):
            r_p[i, c] = h[column, c] - o * d[w] * v[w, c]
            if not alone[i]:
                shared[w, c] += o * r_p[i, c] / theta[column]
    for i in range(private.size):
        column, w, o = private[i], p_row[i], p_val[i]
        b = theta[column]
        for c in range(k):
            if alone[i]:
                # (b + d o²)⁻¹ r: the general form, r/b − (o/b)·λ, cancels when b is tiny
                u[column, c] = r_p[i, c] / (b + d[w] * o * o)
            else:
                u[column, c] = (r_p[i, c] - o * d_eff[w] * shared[w, c]) / b
    return u
