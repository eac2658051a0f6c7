"""The joint Kelly problem, solved by a primal–dual interior-point method with an active set.

Maximise Σ_ω π_ω log(c + (R x)_ω) over x ≥ 0 and cash c ≥ 0 with c + Σx = 1: the expected log
wealth of staking x_j on ticket j, which returns R_ωj per yen in outcome ω. With the cash as one
more column of R (it returns 1 everywhere) this is the log-optimal portfolio on the simplex,
z = (x, c) ≥ 0, 1ᵀz = 1, whose optimality conditions are (Rᵀy)_j ≤ ν for every ticket, with
equality where z_j > 0, y = π/w the marginal value of wealth in each outcome.

Mehrotra's predictor–corrector follows these conditions to a complementarity of 1e-13 in a dozen
to sixteen steps, and Newton's method as an active-set method (below) takes the last steps over
the tickets it has identified, the conditions checked on every ticket. Each step solves
one linear system with the matrix RᵀDR + diag(s/z), D = π/w², three ways: a ticket that wins
in one outcome only (a trifecta; most candidates of a full race) is eliminated exactly, outcome
by outcome (Sherman–Morrison); tickets no two of which win together (the trios, usually) form
a diagonal block, eliminated next; only the rest (win, place, quinella, wide, exacta and the
cash) is factorised densely. The systems are assembled and solved by compiled loops over the
split's lists of nonzeros (`keiba.themis.kernels`), the dense block factorised by LAPACK.

Only an active set of tickets is solved over: a starting guess (the per-pool Kelly tickets),
grown only where the optimality conditions on all tickets ask (a marginal gain beyond ν), and
shrunk by the tickets the solve left at zero. A race's problem is split once (`JointKelly`).
A problem that differs from a solved one by a few tickets (a race sized again without the
tickets rounding dropped) starts from that optimum with Newton's method as an active-set
method over the tickets in the optimum (and those whose marginal gain already beats the cash's
there), which settles in a few steps: every ticket not moving is held at zero in the whole
problem's system by a prohibitive ridge, which the kernels leave out, so no step narrows the
problem.

Every step is deterministic (fixed order; dense algebra on one BLAS thread; compiled loops
without reassociation): the same inputs give the same fractions on any number of cores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, sparse

from keiba.themis.kernels import HELD_FROM, compiled

__all__ = ["JointKelly", "solve_joint_kelly", "warm_up"]

FloatArray = NDArray[np.float64]

CASH_START = 0.5
"""A cold start keeps this share of the bankroll in cash and spreads the rest evenly."""
NU_START = 1.1
"""A cold start's ν is this multiple of the largest marginal gain (so every slack is positive)."""
POLISH_STEPS = 40
"""Newton (or chord) steps a warm start may take before the interior-point method is used
instead."""
CHORD = 0.1
"""A warm start keeps its factorised Newton system while each step's decrement falls below
this share of the last one (chord steps: a solve, no new system); otherwise it factorises
again."""
JOIN_SHARE = 1e-9
"""A ticket joining a warm start's active set starts at this fraction."""
SETTLED = 1e-14
"""A Newton decrement below this (about twice the objective's distance to the optimum on the
active set) ends a warm start's steps: the next would be lost in rounding."""
POLISH_RIDGE = 1e-13
"""The ridge on the Newton system of a warm start (a ticket's own barrier term, made tiny)."""
FLOOR = 1e-20
"""Below this complementarity further steps only add rounding error: stop in any case."""
WARM_SHARE = 1e-5
"""A warm start is the known optimum with this share of the bankroll moved to the even start."""
WARM_MU = 1e-9
"""The complementarity a warm start is centred at."""
GAP = 1e-15
"""Stop when the complementarity z·s per variable is below this (the objective is then within
about n·GAP of the optimum)."""

HANDOFF = 1e-13
"""A cold start's interior-point steps stop at this complementarity per variable, and
Newton's method as an active-set method over the tickets it has identified takes the last."""

KKT_SLACK = 1e-10
"""A ticket outside the active set joins it when its marginal gain exceeds ν by more."""

HELD = 1e30
"""The ridge that holds a column at zero in a Newton system (a ticket not moving)."""

ZERO = 1e-9
"""Fractions below this (of the bankroll) are returned as 0, as tickets at the optimum's zero."""


_POTRF, _POTRS = linalg.lapack.dpotrf, linalg.lapack.dpotrs
"""LAPACK's Cholesky factorisation and solve, called directly (what scipy's cho_factor and
cho_solve call, without their checks)."""

_threadpools: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Dense factorisations of a few hundred rows are fastest on one thread (and far slower on a
    busy machine with several), and one thread sums in one order: uses threadpoolctl when it is
    installed."""
    global _threadpools
    if _threadpools is None:
        try:
            from threadpoolctl import ThreadpoolController

            _threadpools = ThreadpoolController()
        except ImportError:  # pragma: no cover - optional
            _threadpools = False
    with _threadpools.limit(limits=1, user_api="blas") if _threadpools else nullcontext():
        yield


def _independent(r: sparse.csc_matrix, shared: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Which of the `shared` columns of r are chosen, fewest outcomes first, so that no two
    chosen win together: the tickets of one exclusive pool (usually trio), whose block of the
    system is diagonal."""
    counts = np.diff(r.indptr)[shared]
    order = shared[np.argsort(counts, kind="stable")].astype(np.intp)
    chosen: NDArray[np.bool_] = compiled()["independent"](
        r.indptr.astype(np.intp), r.indices.astype(np.intp), order, r.shape[0]
    )
    return chosen[shared]


@dataclass(frozen=True)
class _Pairs:
    """Every pair of nonzeros of two blocks that share an outcome: its outcome, its columns in
    the two blocks and the product of the two payoffs (the dense block's coupling to the
    diagonal block, C = R_Qᵀ D R_T, is a weighted sum of them by cell)."""

    row: NDArray[np.intp]
    a: NDArray[np.intp]
    b: NDArray[np.intp]
    val: FloatArray
    shape: tuple[int, int]
    cell: NDArray[np.intp]
    """Each pair's cell of AᵀDB, row-major."""

    @classmethod
    def of(cls, a: sparse.csr_matrix, b: sparse.csr_matrix) -> _Pairs:
        """The pairs of `a` and `b`, outcome by outcome, a's nonzeros outer."""
        row, first, second = compiled()["meeting"](
            a.indptr.astype(np.intp), b.indptr.astype(np.intp)
        )
        col_a, col_b = a.indices[first].astype(np.intp), b.indices[second].astype(np.intp)
        return cls(
            row,
            col_a,
            col_b,
            a.data[first] * b.data[second],
            (a.shape[1], b.shape[1]),
            col_a * b.shape[1] + col_b,
        )

    def kept(
        self, new_a: NDArray[np.intp], new_b: NDArray[np.intp]
    ) -> tuple[_Pairs, NDArray[np.intp]]:
        """The pairs of the columns kept (`new_*`: each column's new index, −1 if dropped), and
        the positions of those pairs (ascending)."""
        a, b = np.take(new_a, self.a), np.take(new_b, self.b)
        index = np.flatnonzero((a | b) >= 0)  # neither is −1 (dropped)
        a, b = np.take(a, index), np.take(b, index)
        n_a = int(np.count_nonzero(new_a >= 0))
        n_b = int(np.count_nonzero(new_b >= 0))
        pairs = _Pairs(
            np.take(self.row, index), a, b, np.take(self.val, index), (n_a, n_b), a * n_b + b
        )
        return pairs, index


@dataclass(frozen=True)
class _Coupling:
    """C = R_Qᵀ D R_T, the dense block's coupling to the diagonal block, as the nonzeros of its
    fixed pattern (mostly zeros: a dense ticket and a trio win together in few outcomes): each
    nonzero's dense column `a` and diagonal column `t`, and the nonzero each pair adds to."""

    pairs: _Pairs
    entry: NDArray[np.intp]
    """The nonzero of C each pair adds to."""
    a: NDArray[np.intp]
    t: NDArray[np.intp]

    @classmethod
    def of(cls, pairs: _Pairs) -> _Coupling:
        cells, entry = np.unique(pairs.cell, return_inverse=True)
        a, t = np.divmod(cells, pairs.shape[1])
        return cls(pairs, entry.reshape(-1), a, t)

    def subset(self, new_q: NDArray[np.intp], new_d: NDArray[np.intp]) -> _Coupling:
        """The coupling of the columns kept (`new_*`: each column's new index, −1 if dropped):
        its pattern is the old one without their rows and columns."""
        pairs, kept = self.pairs.kept(new_q, new_d)
        a, t = np.take(new_q, self.a), np.take(new_d, self.t)
        live = (a | t) >= 0  # neither is −1 (dropped)
        entry = np.take(_renumbered(live), np.take(self.entry, kept))
        return _Coupling(pairs, entry, a[live], t[live])


def _renumbered(keep: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Each column's index among the kept ones, −1 where it is dropped."""
    new = np.full(keep.size, -1, dtype=np.intp)
    new[keep] = np.arange(int(np.sum(keep)))
    return new


@dataclass(frozen=True)
class _Lists:
    """The arguments of the compiled kernels (`keiba.themis.kernels`) for one split, in their
    order: indices as machine integers, every array contiguous."""

    assemble: tuple[NDArray[Any], ...]
    forward: tuple[NDArray[Any], ...]
    backward: tuple[NDArray[Any], ...]

    @classmethod
    def of(cls, cols: _Columns) -> _Lists:
        def ints(a: NDArray[Any]) -> NDArray[np.intp]:
            return np.ascontiguousarray(a, dtype=np.intp)

        def floats(a: NDArray[Any]) -> FloatArray:
            return np.ascontiguousarray(a, dtype=np.float64)

        rd, rq, qd = cols.rd, cols.rq, cols.qd
        private, p_row, p_val = ints(cols.private), ints(cols.p_row), floats(cols.p_val)
        diag, dense = ints(cols.diag), ints(cols.dense)
        rd_lists = (ints(rd.indptr), ints(rd.indices), floats(rd.data))
        rq_lists = (ints(rq.indptr), ints(rq.indices), floats(rq.data))
        c_a, c_t = ints(qd.a), ints(qd.t)
        by_row, diag_by_row = rq.tocsr(), rd.tocsr()
        by_row.sort_indices()
        diag_by_row.sort_indices()
        rows_q = (ints(by_row.indptr), ints(by_row.indices), floats(by_row.data))
        rows_d = (ints(diag_by_row.indptr), ints(diag_by_row.indices), floats(diag_by_row.data))
        groups = np.zeros(diag.size + 1, dtype=np.intp)
        np.cumsum(np.bincount(c_t, minlength=diag.size), out=groups[1:])
        return cls(
            (
                private, p_row, p_val, diag, dense, *rd_lists, floats(rd.data * rd.data),
                *rq_lists, *rows_q,
                ints(qd.pairs.row), ints(qd.entry), floats(qd.pairs.val), c_a, c_t, groups,
                ints(np.lexsort((c_a, c_t))),
            ),
            (private, p_row, p_val, diag, dense, *rows_d, *rows_q, c_a, c_t),
            (
                private, p_row, p_val, np.ascontiguousarray(cols.alone), diag, dense,
                *rows_d, *rows_q, c_a, c_t,
            ),
        )  # fmt: skip


@dataclass
class _Columns:
    """The active tickets' payoff columns and the cash column (last, 1 in every outcome), split
    three ways for the linear algebra: private (one outcome: eliminated outcome by outcome),
    independent (no two win together: a diagonal block) and the rest (a dense block, the cash
    last). Each Newton system is assembled and solved from these by the compiled kernels
    (`keiba.themis.kernels`), over the lists of nonzeros `lists` gives."""

    r: sparse.csc_matrix
    private: NDArray[np.intp]
    p_row: NDArray[np.intp]
    alone: NDArray[np.bool_]
    p_val: FloatArray
    diag: NDArray[np.intp]
    dense: NDArray[np.intp]
    """The dense block's columns, the cash last."""
    rd: sparse.csc_matrix
    rq: sparse.csc_matrix
    """The dense block's ticket columns (without the cash)."""
    qd: _Coupling
    rt: sparse.csr_matrix = field(init=False)

    _lists: _Lists | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rt = self.r.T

    def lists(self) -> _Lists:
        """The split's lists of nonzeros as the compiled kernels take them (made once)."""
        if self._lists is None:
            self._lists = _Lists.of(self)
        return self._lists

    @classmethod
    def of(cls, tickets: sparse.csc_matrix) -> _Columns:
        n_out = tickets.shape[0]
        r = _with_cash(sparse.csc_matrix(tickets))
        counts = np.diff(r.indptr)
        private = np.flatnonzero(counts[:-1] == 1)
        shared = np.flatnonzero(counts[:-1] != 1)
        independent = _independent(r, shared)
        diag, dense = shared[independent], shared[~independent]
        starts = r.indptr[private]
        rd, rq = r[:, diag], r[:, dense]
        by_row_d, by_row_q = rd.tocsr(), rq.tocsr()
        return cls(
            r,
            private,
            r.indices[starts],
            np.bincount(r.indices[starts], minlength=n_out)[r.indices[starts]] == 1,
            r.data[starts],
            diag,
            np.append(dense, r.shape[1] - 1),
            rd,
            rq,
            _Coupling.of(_Pairs.of(by_row_q, by_row_d)),
        )

    def subset(self, keep: NDArray[np.bool_]) -> _Columns:
        """The same split for the tickets kept (and the cash), without computing it again: a
        private ticket stays private, columns no two of which win together stay so."""
        with_cash = np.append(keep, True)
        kept = np.flatnonzero(with_cash)
        new = _renumbered(with_cash)
        in_p, in_d, in_q = keep[self.private], keep[self.diag], keep[self.dense[:-1]]
        p_row = self.p_row[in_p]
        new_d, new_q = _renumbered(in_d), _renumbered(in_q)
        d_columns, q_columns = np.flatnonzero(in_d), np.flatnonzero(in_q)
        return _Columns(
            _columns(self.r, kept),
            new[self.private[in_p]],
            p_row,
            np.bincount(p_row, minlength=self.r.shape[0])[p_row] == 1,
            self.p_val[in_p],
            new[self.diag[in_d]],
            np.append(new[self.dense[:-1][in_q]], kept.size - 1),
            _columns(self.rd, d_columns),
            _columns(self.rq, q_columns),
            self.qd.subset(new_q, new_d),
        )


def _with_cash(tickets: sparse.csc_matrix) -> sparse.csc_matrix:
    """The tickets' columns (sorted within each) and the cash's last: 1 in every outcome."""
    if not tickets.has_sorted_indices:
        tickets = tickets.sorted_indices()
    n_out, nnz = tickets.shape[0], int(tickets.indptr[-1])
    return sparse.csc_matrix(
        (
            np.concatenate([tickets.data[:nnz], np.ones(n_out)]),
            np.concatenate([tickets.indices[:nnz], np.arange(n_out)]).astype(np.int32),
            np.append(tickets.indptr, nnz + n_out).astype(np.int32),
        ),
        shape=(n_out, tickets.shape[1] + 1),
    )


def _columns(m: sparse.csc_matrix, columns: NDArray[np.intp]) -> sparse.csc_matrix:
    """`m[:, columns]` for a CSC m and ascending `columns`, the same arrays gathered directly
    (fewer temporaries than scipy's slicing)."""
    starts = m.indptr[columns]
    counts = m.indptr[columns + 1] - starts
    indptr = np.zeros(columns.size + 1, dtype=m.indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    at = np.arange(int(indptr[-1]), dtype=m.indptr.dtype) + np.repeat(starts - indptr[:-1], counts)
    return sparse.csc_matrix(
        (np.take(m.data, at), np.take(m.indices, at), indptr), shape=(m.shape[0], columns.size)
    )


def _cholesky(matrix: FloatArray) -> FloatArray:
    """The upper Cholesky factor (LAPACK's potrf), with a ridge of growing weight where
    rounding made the matrix indefinite (columns that are nearly the same ticket)."""
    factor, info = _POTRF(matrix, lower=0, clean=0, overwrite_a=0)
    if info == 0:
        return np.asarray(factor)
    scale = float(np.max(np.abs(np.diag(matrix)), initial=1.0))
    for ridge in (1e-14, 1e-12, 1e-10, 1e-8):
        shifted = matrix + ridge * scale * np.eye(matrix.shape[0])
        factor, info = _POTRF(shifted, lower=0, clean=0, overwrite_a=1)
        if info == 0:
            return np.asarray(factor)
    raise linalg.LinAlgError("the Newton system is not positive definite")


def _newton_solver(cols: _Columns, d: FloatArray, theta: FloatArray):  # type: ignore[no-untyped-def]
    """A function solving (RᵀDR + diag θ) u = h over the active columns (cash last), for h of
    shape (columns, right-hand sides): assembled and solved by the compiled kernels, the dense
    block factorised by LAPACK."""
    kernels, lists = compiled(), cols.lists()
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    held = theta[cols.dense] >= HELD_FROM  # dense columns held at zero are left out
    live = np.full(cols.dense.size, -1, dtype=np.intp)
    live[~held] = np.arange(cols.dense.size - int(np.count_nonzero(held)))
    n_live = int(live[-1]) + 1
    schur, d_eff, m_d, cash, values = kernels["assemble"](d, theta, live, *lists.assemble)
    factor = _cholesky(schur)

    def solve(h: FloatArray) -> FloatArray:
        h = np.ascontiguousarray(h, dtype=np.float64)
        rhs_q, rhs_d = kernels["forward"](
            h, d_eff, theta, m_d, cash, values, live, n_live, *lists.forward
        )
        u_live = np.ascontiguousarray(_POTRS(factor, rhs_q, lower=0)[0])
        u: FloatArray = kernels["backward"](
            h, u_live, rhs_d, d, d_eff, theta, m_d, cash, values, live, *lists.backward
        )
        return u

    return solve


def _step_to_boundary(v: FloatArray, dv: FloatArray) -> float:
    share: float = compiled()["step_to_boundary"](v, dv)
    return share


@dataclass(frozen=True)
class _Point:
    """An iterate: primal z (tickets, then cash), dual slacks s and the budget's multiplier ν."""

    z: FloatArray
    s: FloatArray
    nu: float

    def step(self, dz: FloatArray, ds: FloatArray, dnu: float, share: float = 1.0) -> _Point:
        alpha = share * min(_step_to_boundary(self.z, dz), _step_to_boundary(self.s, ds))
        return _Point(self.z + alpha * dz, self.s + alpha * ds, self.nu + alpha * dnu)


def _mehrotra(point: _Point, solve, r_d: FloatArray) -> _Point:  # type: ignore[no-untyped-def]
    """One predictor–corrector step; `solve` applies the inverse of RᵀDR + diag(s/z)."""
    z, s = point.z, point.s
    n = z.size
    first = solve(np.stack([np.ones(n), r_d - s], axis=1))
    ones = first[:, 0]
    denominator = float(np.sum(ones))

    def direction(u: FloatArray, r_c: FloatArray) -> tuple[FloatArray, FloatArray, float]:
        d_nu = float(np.sum(u)) / denominator
        dz = u - d_nu * ones
        return dz, (r_c - s * dz) / z, d_nu

    mu = float(z @ s) / n
    dz, ds, dnu = direction(first[:, 1], -z * s)
    affine = point.step(dz, ds, dnu)
    sigma = min(1.0, (float(affine.z @ affine.s) / n / mu) ** 3)
    r_c = -z * s + sigma * mu - dz * ds
    corrector = solve((r_d + r_c / z)[:, None])[:, 0]
    return point.step(*direction(corrector, r_c), share=0.995)


def _interior_point(pi: FloatArray, cols: _Columns, point: _Point, gap: float = GAP) -> _Point:
    """Mehrotra predictor–corrector from `point` to the optimum over the active columns (or,
    with a larger `gap`, to where the complementarity per variable is below it, however
    large the residual: Newton's method takes over from there)."""
    n = point.z.size
    every = np.ones(n, dtype=bool)
    for _ in range(100):
        w = _wealth(cols, point.z)
        y = pi / w
        gain = _moving_gains(cols, y, every)
        r_d = point.s + gain - point.nu  # residual of ∇φ − s + ν1 = 0, with ∇φ = −gain
        mu = float(point.z @ point.s) / n
        if mu < FLOOR or (
            mu < gap and (gap > GAP or float(np.max(np.abs(r_d) / (1.0 + gain))) < 1e-9)
        ):
            break
        solve = _newton_solver(cols, y / w, point.s / point.z)
        point = _mehrotra(point, solve, r_d)
    return point


def _start(pi: FloatArray, cols: _Columns, near: FloatArray | None = None) -> _Point:
    """A start with half the bankroll in cash and the rest spread evenly, dual feasible; or,
    near a known optimum of a similar problem, that point pulled a little into the interior."""
    k = cols.r.shape[1] - 1
    z = np.append(np.full(k, CASH_START / k), 1.0 - CASH_START)
    if near is not None:
        z = (1.0 - WARM_SHARE) * np.append(near, max(0.0, 1.0 - float(np.sum(near)))) + (
            WARM_SHARE * z
        )
    gain = cols.rt @ (pi / (cols.r @ z))
    if near is not None:
        nu = 1.0 + WARM_MU
        return _Point(z, np.maximum(nu - gain, WARM_MU / z), nu)
    nu = float(np.max(gain)) * NU_START
    return _Point(z, np.maximum(nu - gain, 1e-2 / (z * z.size)), nu)


def _wealth(cols: _Columns, z: FloatArray) -> FloatArray:
    """R z (columns at zero skipped)."""
    r = cols.r
    w: FloatArray = compiled()["wealth"](r.indptr, r.indices, r.data, z, r.shape[0])
    return w


def _moving_gains(cols: _Columns, y: FloatArray, moving: NDArray[np.bool_]) -> FloatArray:
    """Rᵀy on the `moving` columns, 0 on the others."""
    r = cols.r
    g: FloatArray = compiled()["gains"](r.indptr, r.indices, r.data, y, moving)
    return g


def _expected_log(pi: FloatArray, cols: _Columns, z: FloatArray) -> float:
    w = _wealth(cols, z)
    return float(pi @ np.log(w)) if np.all(w > 0) else -np.inf


@dataclass
class _Factored:
    """Newton's system at one point of a warm start, factorised, with its solution for the
    budget constraint (tickets held at zero left out) and for the gain at that point."""

    solve: Any
    ones: FloatArray
    total: float
    """Σ ones."""
    free: NDArray[np.bool_]
    at_point: FloatArray | None
    """The solution for the gain at the point of factorisation, until a direction uses it."""

    @classmethod
    def at(
        cls, pi: FloatArray, cols: _Columns, z: FloatArray, free: NDArray[np.bool_]
    ) -> _Factored:
        """At z, moving the `free` columns only (the others held at zero by a prohibitive
        ridge)."""
        w = _wealth(cols, z)
        ridge = np.where(free, POLISH_RIDGE, HELD)
        solve = _newton_solver(cols, pi / (w * w), ridge)
        gain = _moving_gains(cols, pi / w, free)
        both = solve(np.stack([np.ones(z.size), gain], axis=1))
        ones = both[:, 0]
        ones[~free] = 0.0
        return cls(solve, ones, float(np.sum(ones)), free, both[:, 1])

    def direction(self, pi: FloatArray, cols: _Columns, z: FloatArray) -> tuple[FloatArray, float]:
        """The step for max Σπ log w on the plane 1ᵀz = 1 from z with this system (Newton's
        at the point it was factorised at, a chord step elsewhere), and its decrement."""
        gain = _moving_gains(cols, pi / _wealth(cols, z), self.free)
        if self.at_point is not None:
            u, self.at_point = self.at_point, None
        else:
            u = self.solve(gain[:, None])[:, 0]
        u[~self.free] = 0.0
        dz = u - float(np.sum(u)) / self.total * self.ones
        dz[~self.free] = 0.0
        return dz, float(gain @ dz)


def _polish(
    pi: FloatArray, full: _Columns, columns: NDArray[np.intp], near: FloatArray
) -> FloatArray | None:
    """The optimum over the tickets `columns` of `full` by Newton's method from `near` (the
    optimum of this problem with a few more tickets) as an active-set method: a ticket that
    reaches zero leaves (all those the full step takes below zero at once, where that step
    projected on z ≥ 0 gains), a ticket outside whose marginal gain beats ν joins. Each step
    solves the whole problem's system with every ticket not moving held at zero by its ridge (no
    narrowing), factorised again after a ticket leaves or joins. None where it does not settle
    in a few steps (or the cash would run out): the interior-point method is used instead."""
    allowed = np.zeros(full.r.shape[1], dtype=bool)
    allowed[columns], allowed[-1] = True, True
    outcomes = full.p_row[allowed[full.private]]
    if np.any(np.bincount(outcomes, minlength=full.r.shape[0])[outcomes] > 1):
        return None
    z = np.zeros(allowed.size)
    z[columns] = np.where(near > 0, near, 0.0)
    z[-1] = max(0.0, 1.0 - float(np.sum(near[near > 0])))
    if z[-1] <= 0:
        return None
    free = z > 0
    free[-1] = True
    _join(free, z, _gains(pi, full, allowed, z))
    factored, last = None, math.inf
    known: float | None = None  # the expected log wealth at z, where a step computed it
    for _ in range(POLISH_STEPS):
        if z[-1] <= 0:
            return None
        try:
            if factored is None:
                factored = _Factored.at(pi, full, z, free)
            dz, decrement = factored.direction(pi, full, z)
        except linalg.LinAlgError:
            return None
        if decrement > CHORD * last:  # the system has moved too far: factorise it again next
            factored = None
        last = decrement
        alpha = _step_to_boundary(z, dz)
        if alpha < 1.0:  # tickets the full step would take below zero leave (and may rejoin)
            leaving = free & (z + dz <= 0)
            leaving[-1] = False
            # the whole step with those tickets at zero where it gains, else to the boundary
            projected = np.maximum(z + dz, 0.0)
            projected[-1] = 1.0 - float(np.sum(projected[:-1]))
            there = _expected_log(pi, full, projected) if projected[-1] > 0 else -math.inf
            here = known if known is not None else _expected_log(pi, full, z)
            if there > here:
                z, known = projected, there
            else:
                z, known = np.maximum(z + alpha * dz, 0.0), None
            z[leaving], free[leaving] = 0.0, False
            z[-1] = 1.0 - float(np.sum(z[:-1]))
            factored, last = None, math.inf
            continue
        if decrement < SETTLED:  # the last full step, then the tickets outside that should join
            z, known = z + dz, None
            if not _join(free, z, _gains(pi, full, allowed, z)):
                polished: FloatArray = z[columns]
                return polished
            factored, last = None, math.inf
            continue
        z, known = _line_search(pi, full, z, dz, decrement, known)
    return None


def _line_search(
    pi: FloatArray,
    cols: _Columns,
    z: FloatArray,
    dz: FloatArray,
    decrement: float,
    known: float | None,
) -> tuple[FloatArray, float | None]:
    """z + t·dz for the first t of 1, ½, ¼, … that gains a share of the decrement (Armijo),
    and the expected log wealth there (None if no t did before t fell below 1e-8)."""
    current = known if known is not None else _expected_log(pi, cols, z)
    t = 1.0
    while t > 1e-8:
        value = _expected_log(pi, cols, z + t * dz)
        if value >= current + 1e-4 * t * decrement:
            return z + t * dz, value
        t *= 0.5
    return z + t * dz, None


def _join(free: NDArray[np.bool_], z: FloatArray, gain: FloatArray) -> bool:
    """Free the tickets held at zero whose marginal gain beats the cash's (ν), each at a tiny
    stake taken from the cash; whether any joined."""
    joining = ~free & (gain > gain[-1] + KKT_SLACK)
    if not np.any(joining):
        return False
    free |= joining
    z[joining] = JOIN_SHARE
    z[-1] -= JOIN_SHARE * int(np.sum(joining))
    return True


def _gains(pi: FloatArray, full: _Columns, allowed: NDArray[np.bool_], z: FloatArray) -> FloatArray:
    """The marginal gains Rᵀ(π/w) at z of every column (cash last), −∞ for those not `allowed`."""
    gain: FloatArray = full.rt @ (pi / (full.r @ z))
    gain[~allowed] = -np.inf
    return gain


def solve_joint_kelly(
    pi: FloatArray, r: sparse.csc_matrix, start: NDArray[np.bool_], near: FloatArray | None = None
) -> FloatArray:
    """Optimal fractions x over all columns of `r` (outcomes × tickets, CSC), beginning with
    the active set `start` (at least one ticket) and growing it where the optimality conditions
    ask. `pi` sums to 1; every outcome in which no ticket pays is one row of zeros. With `near`,
    the optimum of a similar problem, Newton's method from there is tried first."""
    return _solve(pi, _Columns.of(r), np.arange(r.shape[1]), start, near)


class JointKelly:
    """One race's joint problem over all its candidate tickets, split once (`_Columns`), then
    solved over any subset of them: the rounds of sizing again drop tickets, never add."""

    def __init__(self, pi: FloatArray, r: sparse.csc_matrix) -> None:
        self._pi = pi
        self._cols = _Columns.of(r)

    def solve(
        self, columns: NDArray[np.intp], start: NDArray[np.bool_], near: FloatArray | None = None
    ) -> FloatArray:
        """`solve_joint_kelly` over the tickets `columns` (ascending) of the problem (with no
        ticket marked to start with, all of them)."""
        if not np.any(start):
            start = np.ones(columns.size, dtype=bool)
        with one_blas_thread():
            return _solve(self._pi, self._cols, columns, start, near)


def _solve(
    pi: FloatArray,
    full: _Columns,
    columns: NDArray[np.intp],
    start: NDArray[np.bool_],
    near: FloatArray | None,
) -> FloatArray:
    k = columns.size
    allowed = np.zeros(full.r.shape[1] - 1, dtype=bool)
    allowed[columns] = True
    if near is not None and np.any(near > 0):
        polished = _polish(pi, full, columns, near)
        if polished is not None:
            polished[polished < ZERO] = 0.0
            return polished
    active = np.flatnonzero(start)
    x = np.zeros(k)
    for _ in range(k + 1):
        keep = np.zeros_like(allowed)
        keep[columns[active]] = True
        cols = full if np.all(keep) else full.subset(keep)
        point = _start(pi, cols, None if near is None else near[active])
        point = _interior_point(pi, cols, point, HANDOFF)
        # the last steps by Newton's method over the tickets the interior point has
        # identified (z > s: clearly inside the optimum's support), with the optimality
        # conditions checked on every ticket
        x = np.zeros(k)
        x[active] = np.where(point.z[:-1] > point.s[:-1], point.z[:-1], 0.0)
        polished = _polish(pi, full, columns, x) if np.any(x > 0) else None
        if polished is not None:
            polished[polished < ZERO] = 0.0
            return polished
        point = _interior_point(pi, cols, point)
        x = np.zeros(k)
        x[active] = point.z[:-1]
        z = np.zeros(allowed.size + 1)
        z[columns], z[-1] = x, point.z[-1]
        gain = (full.rt @ (pi / (full.r @ z)))[columns]
        missing = np.setdiff1d(np.flatnonzero(gain > point.nu + KKT_SLACK), active)
        if missing.size == 0:
            break
        active = np.union1d(active[point.z[:-1] > ZERO], missing)
        near = x
    x[x < ZERO] = 0.0
    return x


def warm_up() -> None:
    """Compile the solver's kernels (or load them from numba's cache) now, by solving a small
    problem cold and warm: a process about to decide races (a race day) calls it first, so no
    decision pays for the compilation (seconds, the first time on a machine)."""
    # six finishing orders of three runners: six trifectas (one outcome each), the trio (all
    # six: the diagonal block) and three win tickets (two each: the dense block)
    pi = np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    trifectas = np.diag([4.0, 6.0, 8.0, 8.0, 12.0, 12.0])
    trio = np.full((6, 1), 1.2)
    win = np.kron(np.eye(3), np.ones((2, 1))) * np.array([2.2, 3.5, 4.5])
    problem = JointKelly(pi, sparse.csc_matrix(np.hstack([trifectas, trio, win])))
    every = np.arange(10)
    near = problem.solve(every, np.ones(10, dtype=bool))
    problem.solve(every[1:], near[1:] > 0, near[1:])
