"""The HTML report of the main job: one self-contained file, plots inline as SVG.

Nothing is fetched when the page opens (no CDN, no scripts), so it renders offline and behind
firewalls. Plots are drawn with matplotlib's Agg backend; each is an inline `<svg>` under a
`<figure data-chart=…>` so tests can check every chart is present.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

__all__ = ["Chart", "render_report", "write_report"]

plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.grid": True})

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 0.9rem; }
.caveat { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.5rem 1rem; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
"""


class Chart:
    """A titled matplotlib figure rendered to inline SVG."""

    def __init__(self, key: str, caption: str, figure: Any) -> None:
        self.key = key
        self.caption = caption
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight")
        plt.close(figure)
        svg = buffer.getvalue()
        self.svg = svg[svg.index("<svg") :]

    def html(self) -> str:
        return (
            f'<figure data-chart="{html.escape(self.key)}">{self.svg}'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )


def bankroll_chart(balances: Sequence[int], start: int) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    path = [start, *balances]
    ax.plot(range(len(path)), [b / 10_000 for b in path], color="#1f5fa8", lw=1.5)
    ax.axhline(start / 10_000, color="#999", lw=1, ls="--")
    ax.set_xlabel("races bet, in order")
    ax.set_ylabel("bankroll (10,000 yen)")
    return Chart("bankroll", "Bankroll after each race that was bet (settled in the ledger).", fig)


def calibration_chart(tables: Mapping[str, pl.DataFrame]) -> Chart:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    top = 0.0
    for label, table in tables.items():
        ax.plot(table["predicted"], table["observed"], marker="o", ms=4, label=label)
        top = max(top, *table["predicted"].to_list(), *table["observed"].to_list())
    ax.plot([0, top], [0, top], color="#999", ls="--", lw=1)
    ax.set_xlabel("predicted win probability (bin mean)")
    ax.set_ylabel("observed win frequency")
    ax.legend()
    return Chart("calibration", "Calibration: predicted vs observed, bins of equal size.", fig)


def log_loss_chart(values: Mapping[str, float], uniform: float) -> Chart:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    names = list(values)
    ax.bar(names, [values[n] for n in names], color=["#1f5fa8", "#d0802a", "#3a9a4a", "#777"])
    ax.axhline(uniform, color="#c33", ls="--", lw=1, label="uniform 1/N")
    low = min(values.values())
    ax.set_ylim(low - 0.1, uniform + 0.05)
    ax.set_ylabel("winner log-loss (nats per race, lower is better)")
    ax.legend()
    return Chart("log_loss", "Winner log-loss on exactly the same test races.", fig)


def odds_band_chart(bands: pl.DataFrame) -> Chart:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    labels = bands["band"].to_list()
    ax.bar(labels, [r * 100 for r in bands["return_rate"].to_list()], color="#1f5fa8")
    ax.axhline(100, color="#c33", ls="--", lw=1)
    ax.set_ylabel("return rate (%)")
    ax.set_xlabel("win odds band of the bet")
    return Chart("odds_bands", "Return rate of the bets by odds band (100% = break-even).", fig)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(
    title: str,
    sections: Sequence[tuple[str, Sequence[Sequence[Any]], Sequence[str]]],
    charts: Sequence[Chart],
    caveats: Sequence[str],
) -> str:
    """The whole page: tables (heading, rows, header), then charts, then caveats."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for caveat in caveats:
        parts.append(f'<p class="caveat">{html.escape(caveat)}</p>')
    for heading, rows, header in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{_table(rows, header)}")
    parts.append("<h2>Charts</h2>")
    parts.extend(chart.html() for chart in charts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def write_report(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
