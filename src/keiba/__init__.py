"""keiba: JRA race data → win probabilities → Themis's bets → a ledger → an honest backtest.

The Python API (`keiba.races`, `keiba.runners`, `keiba.predictions`, `keiba.backtest_bets`,
`keiba.backtest_metrics`; docs/python-api.md) is imported on first use, so `import keiba`
loads nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keiba.api import backtest_bets, backtest_metrics, predictions, races, runners
    from keiba.common.errors import KeibaError

__all__ = [
    "KeibaError",
    "backtest_bets",
    "backtest_metrics",
    "predictions",
    "races",
    "runners",
]

_LAZY = dict.fromkeys(__all__, "keiba.api") | {"KeibaError": "keiba.common.errors"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keiba' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
