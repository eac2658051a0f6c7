"""Where a full decision's CPU time goes: `keiba bench themis --profile`.

The benchmark's full decisions (the same seeded 18-runner races, all eight pools) decided
again under cProfile with the deciding thread's CPU clock, one profile per race: each phase's
CPU time (a phase's time includes what it calls: the interior point and Newton's method hold
the Newton systems' time, the whole decision holds everything) and the number of Newton
systems the joint solver assembled and factorised ("newton systems": their assembly and
factorisation; the solves with each factor count in the phase that asks for them).
Profiling slows the many small calls more than the few large ones, so the phases are for
comparing with each other and with another commit profiled the same way, not with the
benchmark's timings.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from typing import Any

import numpy as np

from keiba.common.config import ThemisConfig
from keiba.themis.bench import FRAMES_18, synthetic_race
from keiba.themis.decide import decide
from keiba.themis.joint import warm_up

__all__ = ["PHASES", "profile_decisions"]

PHASES: dict[str, tuple[str, str]] = {
    "decision": ("decide.py", "decide"),
    "validation": ("inputs.py", "validate"),
    "screen": ("decide.py", "_screen"),
    "payoff matrix": ("decide.py", "_payoff"),
    "interior point": ("joint.py", "_interior_point"),
    "newton's method": ("joint.py", "_polish"),
    "newton systems": ("joint.py", "_newton_solver"),
    "yen rules": ("rules.py", "allocate"),
    "decision's assembly": ("decide.py", "_decision"),
}
"""Each phase: the module file and the function whose cumulative time it reports."""
_SYSTEMS = "newton systems"


def _phases(profile: cProfile.Profile) -> dict[str, tuple[int, float]]:
    """(primitive calls, cumulative seconds) of each phase's function in one profile."""
    found: dict[str, tuple[int, float]] = dict.fromkeys(PHASES, (0, 0.0))
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (path, _line, function), (primitive, _calls, _own, cumulative, _callers) in stats.items():
        for name, (module, wanted) in PHASES.items():
            if function == wanted and path.endswith(f"themis/{module}"):
                calls, seconds = found[name]
                found[name] = (calls + primitive, seconds + cumulative)
    return found


def profile_decisions(races: int = 20, seed: int = 7) -> dict[str, Any]:
    """The benchmark's `races` full decisions (same `seed`, same instances) profiled one by
    one: per phase the total and the median per race of CPU milliseconds and the calls, and
    the Newton systems per race."""
    rng = np.random.default_rng(seed)
    instances = [synthetic_race(rng) for _ in range(races)]
    warm_up()
    policy = ThemisConfig()
    decide(*instances[0], 10_000_000, policy, frames=FRAMES_18)  # as the benchmark: caches warm
    per_race: list[dict[str, tuple[int, float]]] = []
    for model, market in instances:
        profile = cProfile.Profile(time.thread_time)
        profile.runcall(decide, model, market, 10_000_000, policy, frames=FRAMES_18)
        per_race.append(_phases(profile))
    phases = {
        name: {
            "total_ms": round(sum(r[name][1] for r in per_race) * 1000, 1),
            "median_ms": round(statistics.median(r[name][1] for r in per_race) * 1000, 2),
            "calls": sum(r[name][0] for r in per_race),
        }
        for name in PHASES
    }
    return {
        "races": races,
        "seed": seed,
        "phases_cpu": phases,
        "newton_systems": phases[_SYSTEMS]["calls"],
        "newton_systems_per_race": [r[_SYSTEMS][0] for r in per_race],
    }
