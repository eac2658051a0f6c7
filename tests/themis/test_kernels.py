"""The compiled kernels' small helpers against the library operations they stand for.

The Newton systems themselves are checked against dense linear algebra in test_joint.py; here
the products, the step to the boundary and the lists the problem's split is built from.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from keiba.themis.kernels import compiled


def _matrix(seed: int, rows: int, cols: int) -> sparse.csc_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((rows, cols)) < 0.3) * rng.uniform(1.0, 50.0, (rows, cols))
    return sparse.csc_matrix(dense)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.integers(1, 30))
def test_wealth_and_gains_are_the_sparse_products_bit_for_bit(
    seed: int, rows: int, cols: int
) -> None:
    """R z (columns at zero skipped) and Rᵀy on the moving columns (0 elsewhere) give the very
    bits of scipy's products, whose order of summation they follow."""
    r = _matrix(seed, rows, cols)
    rng = np.random.default_rng(seed + 1)
    z = np.where(rng.random(cols) < 0.5, rng.random(cols), 0.0)
    y = rng.random(rows)
    moving = rng.random(cols) < 0.7
    k = compiled()
    np.testing.assert_array_equal(k["wealth"](r.indptr, r.indices, r.data, z, rows), r @ z)
    expected = np.where(moving, r.T @ y, 0.0)
    np.testing.assert_array_equal(k["gains"](r.indptr, r.indices, r.data, y, moving), expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(-2.0, 2.0)), min_size=1, max_size=20))
def test_the_step_to_the_boundary_keeps_every_variable_non_negative(
    pairs: list[tuple[float, float]],
) -> None:
    """The largest share (at most 1) of the step keeping v + share·dv ≥ 0."""
    v, dv = (np.array(x) for x in zip(*pairs, strict=True))
    share = compiled()["step_to_boundary"](v, dv)
    negative = dv < 0
    expected = min(1.0, float(np.min(-v[negative] / dv[negative]))) if negative.any() else 1.0
    assert share == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 25), st.integers(1, 8), st.integers(1, 8))
def test_meeting_lists_every_pair_of_nonzeros_in_each_row(
    seed: int, rows: int, cols_a: int, cols_b: int
) -> None:
    """Row by row, a's nonzeros outer and b's inner: every pair in one row, once."""
    a, b = _matrix(seed, rows, cols_a).tocsr(), _matrix(seed + 7, rows, cols_b).tocsr()
    row, first, second = compiled()["meeting"](a.indptr.astype(np.intp), b.indptr.astype(np.intp))
    expected = [
        (w, ea, eb)
        for w in range(rows)
        for ea in range(a.indptr[w], a.indptr[w + 1])
        for eb in range(b.indptr[w], b.indptr[w + 1])
    ]
    assert list(zip(row.tolist(), first.tolist(), second.tolist(), strict=True)) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 25), st.integers(1, 15))
def test_independent_columns_never_win_together(seed: int, rows: int, cols: int) -> None:
    """The greedy choice in the order given: no two chosen columns win in one outcome, and
    every column left out shares an outcome with a column chosen before it."""
    r = _matrix(seed, rows, cols)
    order = np.random.default_rng(seed).permutation(cols).astype(np.intp)
    chosen = compiled()["independent"](
        r.indptr.astype(np.intp), r.indices.astype(np.intp), order, rows
    )
    wins = r.toarray() > 0
    meet = (wins.T.astype(int) @ wins.astype(int)) > 0
    picked = np.flatnonzero(chosen)
    for i in picked:
        for j in picked:
            assert i == j or not meet[i, j]
    position = {int(j): p for p, j in enumerate(order)}
    for j in np.flatnonzero(~chosen):
        assert any(meet[j, i] and position[int(i)] < position[int(j)] for i in picked)
