"""Themis as it was before the interior-point joint Kelly: the reference of `keiba bench themis`.

A frozen copy of the decision (validation quote by quote, log-barrier Newton joint Kelly with a
dense Hessian, the O(k²) Smoczynski–Tomkins), kept only so the benchmark can time today's engine
against it in one run and the tests can check that both reach the same optimum. Nothing else
imports it.
"""

from keiba.themis.legacy.decide import decide
from keiba.themis.legacy.sizing import joint_kelly, simultaneous_kelly

__all__ = ["decide", "joint_kelly", "simultaneous_kelly"]
