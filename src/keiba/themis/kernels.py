"""The joint Kelly solver's Newton systems, compiled: assembling one and solving with it.

Each step of the joint solver (`keiba.themis.joint`) builds the system (RᵀDR + diag θ) u = h over
its active columns and solves it once or twice. Written with numpy, a step is a few hundred
small array operations whose Python overhead, not their arithmetic, is most of a decision's
time; here each is one compiled loop over the same lists of nonzeros (numba, compiled on first
use and cached on disk). The dense block's Cholesky factorisation and its solves stay with
LAPACK (scipy), called once per system and once per solve.

The loops are the elimination described in `keiba.themis.joint`: private tickets (one outcome
each) by Sherman–Morrison outcome by outcome, then the diagonal block, leaving the dense block's
Schur complement, cash last. Columns held at zero (a ridge of `HELD_FROM` or more: the tickets
a warm start is not moving) are left out of every loop. Every sum runs in a fixed order on one
thread, without reassociation or fused multiply–adds (no fast-math), and divisions follow
numpy's rules (no Python exception): the same inputs give the same bits on any number of cores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["compiled"]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]

HELD_FROM = 1e29
"""A column with a ridge this large or larger is held at zero: its terms are left out."""

_compiled: dict[str, Callable[..., Any]] = {}


def compiled() -> dict[str, Callable[..., Any]]:
    """The compiled kernels by name (compiled, or read from numba's cache, on first call)."""
    if not _compiled:
        import numba

        jit = numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
        _compiled.update(
            assemble=jit(assemble),
            forward=jit(forward),
            backward=jit(backward),
            wealth=jit(wealth),
            gains=jit(gains),
            step_to_boundary=jit(step_to_boundary),
            meeting=jit(meeting),
            independent=jit(independent),
        )
    return _compiled


def assemble(
    d: FloatArray,
    theta: FloatArray,
    live: IndexArray,
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
    qr_ptr: IndexArray,
    qr_col: IndexArray,
    qr_val: FloatArray,
    qd_row: IndexArray,
    qd_entry: IndexArray,
    qd_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
    g_ptr: IndexArray,
    g_entry: IndexArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The Schur complement of the dense block's live columns (`live`: each dense column's
    position among them, −1 for a column held at zero; cash last), and what the solves need:
    the outcomes' weights after the private tickets are eliminated, the diagonal block, the
    diagonal block's coupling to the cash and the nonzeros of its coupling to the dense block.
    Terms of held columns (a ridge of `HELD_FROM` or more) are left out: they are below
    rounding."""
    n_out = d.size
    s_out = np.zeros(n_out)
    for i in range(private.size):
        b = theta[private[i]]
        if b < HELD_FROM:
            s_out[p_row[i]] += p_val[i] * p_val[i] / b
    d_eff = np.empty(n_out)
    for w in range(n_out):
        d_eff[w] = d[w] / (1.0 + d[w] * s_out[w])
    n_d, q = diag.size, dense.size - 1
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
    n = 0
    for i in range(q + 1):
        n += live[i] >= 0
    schur = np.zeros((n, n))
    for w in range(n_out):  # RqᵀDRq: the pairs of live dense columns winning in each outcome
        weight, end = d_eff[w], qr_ptr[w + 1]
        for ea in range(qr_ptr[w], end):
            i = live[qr_col[ea]]
            if i < 0:
                continue
            for eb in range(ea, end):
                j = live[qr_col[eb]]
                if j >= 0:
                    schur[i, j] += weight * (qr_val[ea] * qr_val[eb])
    for t in range(n_d):  # C M⁻¹ Cᵀ: the pairs of nonzeros of each column of C
        if theta[diag[t]] >= HELD_FROM:
            continue
        end = g_ptr[t + 1]
        for x in range(g_ptr[t], end):
            first = g_entry[x]
            i = live[c_a[first]]
            if i < 0:
                continue
            scaled = values[first] / m_d[t]
            for y in range(x, end):
                second = g_entry[y]
                j = live[c_a[second]]
                if j >= 0:
                    schur[i, j] -= scaled * values[second]
    for i in range(n):
        for j in range(i + 1, n):
            schur[j, i] = schur[i, j]
    by_cash = np.zeros(q)
    for e in range(c_a.size):
        if theta[diag[c_t[e]]] < HELD_FROM:
            by_cash[c_a[e]] += values[e] * (cash[c_t[e]] / m_d[c_t[e]])
    c = n - 1  # the cash's row
    for i in range(q):
        k = live[i]
        if k < 0:
            continue
        column = 0.0
        for e in range(rq_ptr[i], rq_ptr[i + 1]):
            column += rq_val[e] * d_eff[rq_row[e]]
        schur[k, c] = column - by_cash[i]
        schur[c, k] = schur[k, c]
    total, through = 0.0, 0.0
    for w in range(n_out):
        total += d_eff[w]
    for j in range(n_d):
        if theta[diag[j]] < HELD_FROM:
            through += cash[j] * (cash[j] / m_d[j])
    schur[c, c] = total - through
    for i in range(q + 1):
        if live[i] >= 0:
            schur[live[i], live[i]] += theta[dense[i]]
    return schur, d_eff, m_d, cash, values


def forward(
    h: FloatArray,
    d_eff: FloatArray,
    theta: FloatArray,
    m_d: FloatArray,
    cash: FloatArray,
    values: FloatArray,
    live: IndexArray,
    n_live: int,
    private: IndexArray,
    p_row: IndexArray,
    p_val: FloatArray,
    diag: IndexArray,
    dense: IndexArray,
    dr_ptr: IndexArray,
    dr_col: IndexArray,
    dr_val: FloatArray,
    qr_ptr: IndexArray,
    qr_col: IndexArray,
    qr_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
) -> tuple[FloatArray, FloatArray]:
    """For right-hand sides h (columns × k): the live dense columns' right-hand side after the
    private tickets and the diagonal block are eliminated, and the diagonal block's own. Only
    the outcomes of moving private tickets change them (`dr_*`, `qr_*`: the diagonal and dense
    blocks by outcome)."""
    n_out, k = d_eff.size, h.shape[1]
    n_d, q = diag.size, dense.size - 1
    cash_row = n_live - 1
    rhs_d = np.empty((n_d, k))
    for j in range(n_d):
        for c in range(k):
            rhs_d[j, c] = h[diag[j], c]
    rhs_q = np.empty((n_live, k))
    for i in range(q + 1):
        if live[i] >= 0:
            for c in range(k):
                rhs_q[live[i], c] = h[dense[i], c]
    corr = np.zeros((n_out, k))
    marked = np.zeros(n_out, dtype=np.bool_)
    touched = np.empty(private.size, np.intp)
    n_touched = 0
    for i in range(private.size):
        column, w = private[i], p_row[i]
        if theta[column] >= HELD_FROM:
            continue
        if not marked[w]:
            marked[w] = True
            touched[n_touched] = w
            n_touched += 1
        for c in range(k):
            corr[w, c] += p_val[i] * h[column, c] / theta[column]
    for x in range(n_touched):
        w = touched[x]
        for c in range(k):
            value = corr[w, c] * d_eff[w]
            for e in range(dr_ptr[w], dr_ptr[w + 1]):
                rhs_d[dr_col[e], c] -= dr_val[e] * value
            for e in range(qr_ptr[w], qr_ptr[w + 1]):
                i = live[qr_col[e]]
                if i >= 0:
                    rhs_q[i, c] -= qr_val[e] * value
            rhs_q[cash_row, c] -= value
    for e in range(c_a.size):
        i, j = live[c_a[e]], c_t[e]
        if i >= 0 and theta[diag[j]] < HELD_FROM:
            for c in range(k):
                rhs_q[i, c] -= values[e] * (rhs_d[j, c] / m_d[j])
    for j in range(n_d):
        if theta[diag[j]] < HELD_FROM:
            for c in range(k):
                rhs_q[cash_row, c] -= cash[j] * (rhs_d[j, c] / m_d[j])
    return rhs_q, rhs_d


def backward(
    h: FloatArray,
    u_live: FloatArray,
    rhs_d: FloatArray,
    d: FloatArray,
    d_eff: FloatArray,
    theta: FloatArray,
    m_d: FloatArray,
    cash: FloatArray,
    values: FloatArray,
    live: IndexArray,
    private: IndexArray,
    p_row: IndexArray,
    p_val: FloatArray,
    alone: NDArray[np.bool_],
    diag: IndexArray,
    dense: IndexArray,
    dr_ptr: IndexArray,
    dr_col: IndexArray,
    dr_val: FloatArray,
    qr_ptr: IndexArray,
    qr_col: IndexArray,
    qr_val: FloatArray,
    c_a: IndexArray,
    c_t: IndexArray,
) -> FloatArray:
    """The solution u from the live dense columns' `u_live` (held ones are 0): the diagonal
    block's, then each moving private ticket's (by Sherman–Morrison within its outcome, from
    the other blocks' return in that outcome); a held one's is its ridge's share alone."""
    n_out, k = d_eff.size, h.shape[1]
    n_d, q = diag.size, dense.size - 1
    u = np.empty(h.shape)
    u_q = np.zeros((q + 1, k))
    for i in range(q + 1):
        if live[i] >= 0:
            for c in range(k):
                u_q[i, c] = u_live[live[i], c]
        for c in range(k):
            u[dense[i], c] = u_q[i, c]
    u_d = np.empty((n_d, k))
    for j in range(n_d):
        for c in range(k):
            u_d[j, c] = rhs_d[j, c] - cash[j] * u_q[q, c]
    for e in range(c_a.size):
        if live[c_a[e]] >= 0:
            for c in range(k):
                u_d[c_t[e], c] -= values[e] * u_q[c_a[e], c]
    for j in range(n_d):
        held = theta[diag[j]] >= HELD_FROM
        for c in range(k):
            u_d[j, c] = 0.0 if held else u_d[j, c] / m_d[j]
            u[diag[j], c] = u_d[j, c]
    v = np.empty((n_out, k))
    known = np.zeros(n_out, dtype=np.bool_)
    r_p = np.empty((private.size, k))
    shared = np.zeros((n_out, k))
    for i in range(private.size):
        column, w, o = private[i], p_row[i], p_val[i]
        if theta[column] >= HELD_FROM:
            continue
        if not known[w]:
            known[w] = True
            for c in range(k):
                acc = u_q[q, c]
                for e in range(qr_ptr[w], qr_ptr[w + 1]):
                    acc += qr_val[e] * u_q[qr_col[e], c]
                for e in range(dr_ptr[w], dr_ptr[w + 1]):
                    acc += dr_val[e] * u_d[dr_col[e], c]
                v[w, c] = acc
        for c in range(k):
            r_p[i, c] = h[column, c] - o * d[w] * v[w, c]
            if not alone[i]:
                shared[w, c] += o * r_p[i, c] / theta[column]
    for i in range(private.size):
        column, w, o = private[i], p_row[i], p_val[i]
        b = theta[column]
        for c in range(k):
            if b >= HELD_FROM:
                u[column, c] = h[column, c] / (b + d[w] * o * o)
            elif alone[i]:
                # (b + d o²)⁻¹ r: the general form, r/b − (o/b)·λ, cancels when b is tiny
                u[column, c] = r_p[i, c] / (b + d[w] * o * o)
            else:
                u[column, c] = (r_p[i, c] - o * d_eff[w] * shared[w, c]) / b
    return u


def wealth(
    ptr: IndexArray, row: IndexArray, val: FloatArray, z: FloatArray, n_out: int
) -> FloatArray:
    """R z for R in compressed columns (`ptr`, `row`, `val`), skipping the columns at zero:
    the sums in the order of a compressed-column product."""
    w = np.zeros(n_out)
    for j in range(z.size):
        if z[j] != 0.0:
            for e in range(ptr[j], ptr[j + 1]):
                w[row[e]] += val[e] * z[j]
    return w


def gains(
    ptr: IndexArray, row: IndexArray, val: FloatArray, y: FloatArray, moving: NDArray[np.bool_]
) -> FloatArray:
    """Rᵀy on the `moving` columns, 0 on the others."""
    g = np.zeros(moving.size)
    for j in range(moving.size):
        if moving[j]:
            acc = 0.0
            for e in range(ptr[j], ptr[j + 1]):
                acc += val[e] * y[row[e]]
            g[j] = acc
    return g


def step_to_boundary(v: FloatArray, dv: FloatArray) -> float:
    """The largest share of the step dv (at most 1) that keeps v + share·dv ≥ 0."""
    share = 1.0
    for i in range(v.size):
        if dv[i] < 0.0:
            share = min(share, -v[i] / dv[i])
    return share


def meeting(a_ptr: IndexArray, b_ptr: IndexArray) -> tuple[IndexArray, IndexArray, IndexArray]:
    """Every pair of an entry of a and an entry of b in the same row (two compressed-row
    matrices over the same rows), row by row, a's entries outer: the row and the two
    entries' positions."""
    n = 0
    for w in range(a_ptr.size - 1):
        n += (a_ptr[w + 1] - a_ptr[w]) * (b_ptr[w + 1] - b_ptr[w])
    row, first, second = np.empty(n, np.intp), np.empty(n, np.intp), np.empty(n, np.intp)
    k = 0
    for w in range(a_ptr.size - 1):
        for ea in range(a_ptr[w], a_ptr[w + 1]):
            for eb in range(b_ptr[w], b_ptr[w + 1]):
                row[k], first[k], second[k] = w, ea, eb
                k += 1
    return row, first, second


def independent(
    ptr: IndexArray, row: IndexArray, order: IndexArray, n_out: int
) -> NDArray[np.bool_]:
    """Columns no two of which win together, taken greedily in `order`: a column (`ptr`,
    `row`: compressed columns) is chosen unless a column chosen before wins in one of its
    outcomes. Chosen or not, for every column."""
    chosen = np.zeros(ptr.size - 1, dtype=np.bool_)
    taken = np.zeros(n_out, dtype=np.bool_)
    for j in order:
        free = True
        for e in range(ptr[j], ptr[j + 1]):
            if taken[row[e]]:
                free = False
                break
        if free:
            chosen[j] = True
            for e in range(ptr[j], ptr[j + 1]):
                taken[row[e]] = True
    return chosen
