"""The HTML reports (the main job's, and the backtest's in `backtest_report`): one
self-contained file, plots inline as SVG.

Nothing is fetched when the page opens (no CDN, no scripts), so it renders offline and behind
firewalls. Plots are drawn with matplotlib; each is an inline `<svg>` under a
`<figure data-chart=…>` so tests can check every chart is present. Their text stays text
(`svg.fonttype = 'none'`): the reader's browser draws it, Japanese included, with the fonts of
`FONT_STACK` (the page's and the charts' font family): the system's Japanese fonts, then the
subset of IPAexGothic the page embeds (`keiba.evaluator.page_font`). A page opens with its
answer (`render_report`'s `answer`), then the results, then the caveats.
"""

from __future__ import annotations

import html
import io
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib import font_manager
from matplotlib.patches import Rectangle
from numpy.typing import NDArray

from keiba.evaluator.bet_list import bet_list, bets_html
from keiba.evaluator.monte_carlo import FanChart, RuinCurve
from keiba.evaluator.page_font import EMBEDDED_FAMILY, font_face_css, font_path

__all__ = [
    "CJK_FONTS",
    "FONT_STACK",
    "MAX_CURVE_POINTS",
    "Chart",
    "Interval",
    "Section",
    "bankroll_curves_chart",
    "downsample",
    "fan_chart",
    "page",
    "palette_colour",
    "rate_bars_chart",
    "render_report",
    "ruin_chart",
    "table_html",
    "underwater_chart",
    "write_report",
]

MAX_CURVE_POINTS = 2_000
"""Points per curve at most: longer curves keep each bucket's lowest and highest point."""

Interval = tuple[float | None, float | None, float | None]
"""A rate and its interval (value, low, high); low and high may be unknown."""

_PALETTE = ("#1f5fa8", "#d0802a", "#3a9a4a", "#8a3ab9", "#777777", "#c33b3b")

CJK_FONTS: tuple[str, ...] = (
    "Hiragino Sans",
    "Hiragino Kaku Gothic ProN",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Yu Gothic",
    "Meiryo",
)
"""Japanese fonts of macOS, Linux/Android and Windows, in the order a browser should try them."""
FONT_STACK = ", ".join(
    [
        f'"{EMBEDDED_FAMILY}"',
        "system-ui",
        "-apple-system",
        '"Segoe UI"',
        *(f'"{f}"' for f in CJK_FONTS),
        "sans-serif",
    ]
)
"""The page's CSS font family. The embedded subset comes first: it holds only the page's CJK
glyphs, so Latin text falls through to the system's font; the system's Japanese fonts follow
for a page written without the subset. (Chromium draws boxes rather than reach a web font
named after an installed font that lacks the glyph, so the subset must lead.)"""

plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.grid": True})
# matplotlib measures Latin in its own font and Japanese in IPAexGothic, as the browser draws
# them; the SVG names the fonts in the browser's order (`_DRAWN_FAMILY`)
_MEASURED = ["DejaVu Sans", "Arial", "Helvetica", *CJK_FONTS, EMBEDDED_FAMILY]
plt.rcParams["font.sans-serif"] = _MEASURED
if (_FONT := font_path()) is not None:
    font_manager.fontManager.addfont(_FONT)
_WRITTEN_FAMILY = "font-family: " + ", ".join(f"'{f}'" for f in _MEASURED) + ", sans-serif"
_DRAWN_FAMILY = (
    "font-family: "
    + ", ".join(f"'{f}'" for f in [EMBEDDED_FAMILY, *_MEASURED[:-1]])
    + ", sans-serif"
)
# the same figure, the same SVG: fixed element ids and no creation date
plt.rcParams["svg.hashsalt"] = "keiba"

_STYLE = (
    f"body {{ font-family: {FONT_STACK}; margin: 2rem auto; max-width: 1100px; color: #222; }}"
    + """
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.answer { font-size: 1.15rem; line-height: 1.5; border-left: 4px solid #1f5fa8;
  padding: 0.5rem 1rem; background: #eef4fb; }
details.bets summary { cursor: pointer; color: #1f5fa8; }
a.download { font-weight: bold; }
table { border-collapse: collapse; margin: 0.5rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; font-size: 0.9rem; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 0.9rem; }
.caveat { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.5rem 1rem; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.note { color: #555; } .empty { color: #8a5a00; font-style: italic; }
td.num, th.num { text-align: right; }
"""
)


class Chart:
    """A titled matplotlib figure rendered to inline SVG."""

    def __init__(self, key: str, caption: str, figure: Any) -> None:
        self.key = key
        self.caption = caption
        buffer = io.StringIO()
        with warnings.catch_warnings():
            # without a CJK font here, matplotlib only measures Japanese text; the browser draws it
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(figure)
        svg = buffer.getvalue()
        svg = svg[svg.index("<svg") :]
        # matplotlib's RDF metadata (creator, links) is of no use inline
        start, end = svg.find("<metadata>"), svg.find("</metadata>")
        if 0 <= start < end:
            svg = svg[:start] + svg[end + len("</metadata>") :]
        self.svg = svg.replace(_WRITTEN_FAMILY, _DRAWN_FAMILY)

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
    ax.set_ylabel("回収率 return rate (%)")
    ax.set_xlabel("win odds band of the bet")
    return Chart("odds_bands", "Return rate of the bets by odds band (100% = break-even).", fig)


def _colour(i: int, colours: Sequence[str] | None = None) -> str:
    """The i-th of `colours` if given, else of the default palette."""
    palette = colours or _PALETTE
    return palette[i % len(palette)]


def palette_colour(i: int) -> str:
    """The i-th colour of the charts' palette (to give a series the same colour everywhere)."""
    return _colour(i)


def downsample(
    x: Sequence[Any] | NDArray[Any], y: Sequence[float] | NDArray[Any], max_points: int = 0
) -> tuple[list[Any], list[float]]:
    """At most `max_points` (default `MAX_CURVE_POINTS`) points of the curve (x, y): the first,
    the last and each bucket's lowest and highest, so peaks and troughs survive."""
    limit = max_points or MAX_CURVE_POINTS
    xs, ys = list(x), [float(v) for v in y]
    n = len(ys)
    if n <= limit:
        return xs, ys
    values = np.asarray(ys, dtype=np.float64)
    buckets = max(1, (limit - 2) // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = {0, n - 1}
    for a, b in itertools.pairwise(edges):
        if b > a:
            chunk = values[a:b]
            keep.add(int(a + np.argmin(chunk)))
            keep.add(int(a + np.argmax(chunk)))
    order = sorted(keep)
    return [xs[i] for i in order], [ys[i] for i in order]


def bankroll_curves_chart(
    curves: Mapping[str, tuple[Sequence[int], Sequence[int]]],
    start_yen: int,
    caption: str,
    key: str = "bankroll",
    colours: Sequence[str] | None = None,
) -> Chart:
    """One step curve per label: (x, bankroll in yen), downsampled."""
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, (label, (x, y)) in enumerate(curves.items()):
        xs, ys = downsample(x, y)
        ax.plot(
            xs,
            [v / 10_000 for v in ys],
            color=_colour(i, colours),
            lw=1.2,
            label=label,
            drawstyle="steps-post",
        )
    ax.axhline(start_yen / 10_000, color="#999", lw=1, ls="--")
    ax.set_xlabel("races replayed, in post-time order")
    ax.set_ylabel("bankroll (10,000 yen)")
    ax.legend(fontsize=8)
    return Chart(key, caption, fig)


def underwater_chart(
    curves: Mapping[str, tuple[Sequence[date], Sequence[float]]],
    caption: str,
    key: str = "drawdown",
    colours: Sequence[str] | None = None,
) -> Chart:
    """Drawdown below the running peak (a fraction ≤ 0) per label, against the race day."""
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for i, (label, (x, y)) in enumerate(curves.items()):
        xs, ys = downsample(x, y)
        pct = [v * 100 for v in ys]
        colour = _colour(i, colours)
        ax.fill_between(xs, pct, 0, step="post", color=colour, alpha=0.2, lw=0)
        ax.plot(xs, pct, color=colour, lw=1.0, label=label, drawstyle="steps-post")
    ax.axhline(0, color="#999", lw=1)
    ax.set_ylabel("below the peak (%)")
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.legend(fontsize=8, loc="lower left")
    return Chart(key, caption, fig)


def rate_bars_chart(
    key: str,
    caption: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[Interval | None]],
    *,
    xlabel: str,
    counts: Mapping[str, Sequence[int]] | None = None,
    colours: Sequence[str] | None = None,
) -> Chart:
    """Grouped bars of rates (as %) per category, one colour per series, with error bars where
    the interval is known and a line at 100% (break-even). A missing value draws no bar and is
    marked "no bets"; `counts` (bets per bar) are written above the bars. A single series is
    coloured by category, without a legend; `colours` are per series (per category for a
    single series)."""
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / max(1, len(series))
    top = 100.0
    single = len(series) == 1
    for i, (label, values) in enumerate(series.items()):
        for j, value in enumerate(values):
            x = j - 0.4 + width * (i + 0.5)
            colour = _colour(j if single else i, colours)
            rate, low, high = value if value is not None else (None, None, None)
            if rate is None or not math.isfinite(rate):
                ax.text(
                    x, 2, "no bets", rotation=90, ha="center", va="bottom", fontsize=7, color="#777"
                )
                continue
            err = None
            if low is not None and high is not None:
                err = [[max(0.0, rate - low) * 100], [max(0.0, high - rate) * 100]]
                top = max(top, high * 100)
            ax.bar(x, rate * 100, width, color=colour)
            if err is not None:
                ax.errorbar(x, rate * 100, yerr=err, color="#222", lw=1, capsize=2)
            top = max(top, rate * 100)
            if counts is not None:
                above = rate if high is None else max(rate, high)
                ax.text(
                    x, above * 100, f"{counts[label][j]:,}", ha="center", va="bottom", fontsize=6
                )
    if not single:  # every series in the legend, even one that drew no bar
        handles = [Rectangle((0, 0), 1, 1, color=_colour(i, colours)) for i in range(len(series))]
        ax.legend(handles, list(series), fontsize=8)
    ax.axhline(100, color="#c33", ls="--", lw=1)
    ax.set_xticks(range(len(categories)), list(categories))
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.set_ylim(0, top * 1.08)
    ax.set_ylabel("回収率 return rate (%)")
    ax.set_xlabel(xlabel)
    return Chart(key, caption, fig)


def fan_chart(
    fans: Sequence[FanChart],
    caption: str,
    key: str = "mc_fan",
    titles: Sequence[str] | None = None,
) -> Chart:
    """One panel per scenario: the 5–95% and 25–75% bands and the median of the bankroll;
    each panel titled by `titles`, else by its Kelly fraction, overestimate and P(ruin)."""
    fig, axes = plt.subplots(1, len(fans), figsize=(10, 3.8), sharey=True, squeeze=False)
    highest = max((float(f.bankroll_yen.max()) for f in fans), default=0.0)
    start = max((f.start_yen for f in fans), default=1)
    logarithmic = highest > 20 * start  # a wide fan: a log scale keeps the lower bands readable
    for i, (ax, fan) in enumerate(zip(axes[0], fans, strict=True)):
        x = fan.bet_index
        values = fan.bankroll_yen
        if logarithmic:
            values = np.maximum(values, fan.start_yen / 1_000)
            ax.set_yscale("log")
        q = {round(v, 4): values[i] / 10_000 for i, v in enumerate(fan.quantiles)}
        qs = sorted(q)
        for lo, hi, alpha in ((qs[0], qs[-1], 0.18), (qs[1], qs[-2], 0.35)):
            if lo < hi:
                ax.fill_between(
                    x, q[lo], q[hi], color="#1f5fa8", alpha=alpha, lw=0, label=f"{lo:.0%}–{hi:.0%}"
                )
        median = min(qs, key=lambda v: abs(v - 0.5))
        ax.plot(x, q[median], color="#1f5fa8", lw=1.5, label=f"{median:.0%} (median)")
        ax.axhline(fan.start_yen / 10_000, color="#999", ls="--", lw=1)
        ax.set_title(
            titles[i]
            if titles
            else f"{fan.fraction:g} Kelly, edge overestimated ×{fan.overestimate:g}: "
            f"P(ruin) {fan.p_ruin:.1%}",
            fontsize=9,
        )
        ax.set_xlabel("bets into the season")
    axes[0][0].set_ylabel("bankroll (10,000 yen)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    return Chart(key, caption, fig)


def ruin_chart(
    curve: RuinCurve,
    caption: str,
    marked_fraction: float | None = None,
    key: str = "ruin",
    labels: Sequence[str] | None = None,
) -> Chart:
    """P(ruin) against the Kelly fraction, one line per overestimation factor (named by
    `labels`, else 'edge overestimated ×k')."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, k in enumerate(curve.overestimates):
        ax.plot(
            curve.fractions,
            [p * 100 for p in curve.p_ruin[i]],
            marker="o",
            ms=3,
            color=_colour(i),
            label=labels[i] if labels else f"edge overestimated ×{k:g}",
        )
    if marked_fraction is not None:
        ax.axvline(marked_fraction, color="#999", ls=":", lw=1)
    ax.set_xlabel("Kelly fraction")
    ax.set_ylabel("P(ruin within a season) (%)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return Chart(key, caption, fig)


def table_html(
    rows: Sequence[Sequence[Any]], header: Sequence[str], caption: str | None = None
) -> str:
    """A plain HTML table of escaped cells."""
    table = _table(rows, header)
    if caption:
        table = table.replace("<table>", f"<table><caption>{html.escape(caption)}</caption>", 1)
    return table


def page(title: str, body: str) -> str:
    """A whole self-contained HTML document: `body` is trusted HTML. Its style embeds the glyphs
    of the page's Japanese text (`page_font.font_face_css`)."""
    style = font_face_css(title + body) + _STYLE
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body>{body}</body></html>"
    )


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


Section = tuple[str, Sequence[Sequence[Any]], Sequence[str]]
"""A table of the page: heading, rows, header."""


def render_report(
    title: str,
    sections: Sequence[Section],
    charts: Sequence[Chart],
    caveats: Sequence[str],
    *,
    answer: str | None = None,
    bets: pl.DataFrame | None = None,
    appendix: Sequence[Section] = (),
) -> str:
    """The whole page, answer first: the answer, the tables, the bets (rows with the columns of
    `keiba.evaluator.backtest_frames.BETS_SCHEMA`, listed with their CSV; `None`: the page has
    no bets to list), the charts, the caveats, then the `appendix` tables (the settings)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if answer:
        parts.append(f'<p class="answer">{html.escape(answer)}</p>')
    parts.extend(f"<h2>{html.escape(h)}</h2>{_table(rows, header)}" for h, rows, header in sections)
    if bets is not None:
        parts.append("<h2>The bets</h2>")
        if bets.is_empty():
            parts.append('<p class="empty" data-empty="bets">No bets to list.</p>')
        else:
            parts.append(bets_html(bet_list(bets), {"themis": "Themis"}, "tickets of Themis"))
    parts.append("<h2>Charts</h2>")
    parts.extend(chart.html() for chart in charts)
    if caveats:
        parts.append("<h2>Caveats</h2>")
        parts.extend(f'<p class="caveat">{html.escape(c)}</p>' for c in caveats)
    parts.extend(f"<h2>{html.escape(h)}</h2>{_table(rows, header)}" for h, rows, header in appendix)
    return page(title, "".join(parts))


def write_report(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
