"""The backtest report in a real browser: headless Chromium through Playwright.

The page must answer first (the answer sentence is the first block after the title), list every
bet with its horses in a table whose CSV link decodes to the same rows, keep the charts' Japanese
as text, and load nothing but itself. Every chart expected must be present, laid out with a
non-zero size, hold drawn marks and look like something (a screenshot of the drawing: more than
one colour, some ink). The browser is the system's Chromium (`chromium`, `chromium-browser`,
`google-chrome` or $KEIBA_CHROMIUM; `scripts/ensure-chromium.sh` installs it, `make test` runs
that). Without one the tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_backtest_report import NO_VALUE, make_run

from keiba.evaluator.answer import backtest_answer
from keiba.evaluator.backtest_frames import BacktestRun
from keiba.evaluator.backtest_report import (
    CHART_KEYS,
    LISTED_STRATEGIES,
    write_backtest_report,
)

NAMES = ("chromium", "chromium-browser", "google-chrome")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_chromium() -> str | None:
    """$KEIBA_CHROMIUM (a path or a command), else the first of NAMES on PATH."""
    given = os.environ.get("KEIBA_CHROMIUM")
    for candidate in ([given] if given else []) + list(NAMES):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary = find_chromium()
    if binary is None:
        message = (
            "no Chromium found (chromium, chromium-browser, google-chrome or $KEIBA_CHROMIUM); "
            "run scripts/ensure-chromium.sh or `make test`"
        )
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=binary, args=["--no-sandbox", "--headless=new"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    runs = {
        "normal": make_run(root, run_id="20261121T101500Z-normal"),
        "no_themis": make_run(root, themis_threshold=NO_VALUE, run_id="20261121T101600Z-none"),
        "no_bets": make_run(
            root, races=48, themis_threshold=NO_VALUE, baselines=False, run_id="20261121T1017Z-0"
        ),
    }
    return {
        name: write_backtest_report(BacktestRun.load(d), d / "report.html", seasons=100, seed=0)
        for name, d in runs.items()
    }


MONTE_CARLO = {"mc_fan", "ruin"}
EXPECTED = {
    "normal": set(CHART_KEYS),
    # the baselines still bet; without Themis bets there is no Monte Carlo to draw
    "no_themis": set(CHART_KEYS) - MONTE_CARLO,
    "no_bets": set(CHART_KEYS)
    - {"bankroll", "drawdown", "baselines", "bet_types", "odds_bands", *MONTE_CARLO},
}

_MARKS = "path, line, rect, polyline, polygon, circle, ellipse, use"


def _colours(png: bytes) -> tuple[int, float]:
    """Distinct colours of the screenshot, and the share of pixels that are not white."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    white = sum(count for count, rgb in colours if rgb == (255, 255, 255))
    return len(colours), 1 - white / max(1, image.width * image.height)


def _open(browser: Any, path: Path) -> tuple[Any, Any, list[str], list[str]]:
    """A page showing `path`: every request but the file itself is aborted and recorded."""
    url = path.resolve().as_uri()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    requested: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        requested.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    return context, page, requested, errors


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_chart_renders_in_chromium(browser: Any, reports: dict[str, Path], name: str) -> None:
    context, page, requested, errors = _open(browser, reports[name])
    try:
        url = reports[name].resolve().as_uri()
        keys = page.eval_on_selector_all("figure[data-chart]", "fs => fs.map(f => f.dataset.chart)")
        assert sorted(keys) == sorted(EXPECTED[name])
        for key in EXPECTED[name]:
            figure = page.locator(f'figure[data-chart="{key}"]')
            assert figure.count() == 1, key
            svg = figure.locator("svg").first
            box = svg.bounding_box()
            assert box is not None and box["width"] > 50 and box["height"] > 50, (key, box)
            marks = svg.locator(_MARKS).count()
            assert marks > 10, (key, marks)  # the background and the axes are a few; data more
            svg.scroll_into_view_if_needed()
            colours, inked = _colours(svg.screenshot())  # the drawing, without its caption
            assert colours > 1 and inked > 0.02, (key, colours, inked)
        # a chart that has nothing to draw says so in words, visibly
        for key in set(CHART_KEYS) - EXPECTED[name]:
            sentence = page.locator(f'p.empty[data-empty="{key}"]')
            assert sentence.count() == 1 and sentence.is_visible(), key
            assert "bet" in sentence.inner_text()
        assert set(requested) == {url}, requested
        assert not errors, errors
    finally:
        context.close()


def test_the_strategies_table_and_caveats_are_visible(
    browser: Any, reports: dict[str, Path]
) -> None:
    context, page, _, _ = _open(browser, reports["no_themis"])
    try:
        caveats = page.locator("p.caveat")
        assert caveats.count() >= 3
        assert caveats.first.is_visible()
        text = page.inner_text("body")
        assert "Themis on the model (+ market) placed no bets" in text
        assert "fewer than 30" in text and "assumed distribution" not in text
        table = page.locator("table").first
        assert table.locator("tbody tr").count() == 4
    finally:
        context.close()


_FIRST_BLOCK = """() => {
    const next = document.querySelector('h1').nextElementSibling;
    return [next.tagName, next.className, next.innerText, next.getBoundingClientRect().bottom];
}"""


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_answer_is_the_first_block_after_the_title(
    browser: Any, reports: dict[str, Path], name: str
) -> None:
    context, page, _, _ = _open(browser, reports[name])
    try:
        tag, cls, text, bottom = page.evaluate(_FIRST_BLOCK)
        result = BacktestRun.load(reports[name].parent).result
        assert (tag, cls, text) == ("P", "answer", backtest_answer(result))
        assert bottom < 900  # on the first screen
    finally:
        context.close()


_ROWS = "rs => rs.map(r => [r.dataset.raceId, ...[...r.cells].map(c => c.textContent)])"


def test_the_bets_table_lists_every_bet_and_the_csv_holds_the_same(
    browser: Any, reports: dict[str, Path]
) -> None:
    context, page, requested, _ = _open(browser, reports["normal"])
    try:
        bets = (
            BacktestRun.load(reports["normal"].parent)
            .bets.filter(pl.col("strategy").is_in(LISTED_STRATEGIES))
            .sort("race_seq", "strategy", "bet_type", "combination")
        )
        rows = page.eval_on_selector_all("table[data-bets] tbody tr", _ROWS)
        assert len(rows) == bets.height > 0
        assert [r[0] for r in rows] == bets["race_id"].to_list()
        assert [r[6] for r in rows] == bets["horses"].to_list()  # the horses' names
        assert all(name for name in bets["horses"])
        href = page.get_attribute('a[download="bets.csv"]', "href")
        assert href is not None and href.startswith("data:text/csv;charset=utf-8;base64,")
        raw = base64.b64decode(href.split(",", 1)[1])
        csv = pl.read_csv(io.BytesIO(raw[3:]), schema_overrides={"race_id": pl.String})
        assert csv["race_id"].to_list() == [r[0] for r in rows]
        assert csv["horses"].to_list() == [r[6] for r in rows]
        assert [f"{s:,}" for s in csv["stake_yen"]] == [r[10] for r in rows]
        assert csv["result"].to_list() == [r[11] for r in rows]
        # a long list is folded: a click (no script) opens it
        first = page.locator("table[data-bets] tbody tr").first
        if not first.is_visible():
            page.click("details.bets summary")
        assert first.is_visible()
        assert all(u.startswith("file://") for u in requested), requested
    finally:
        context.close()


_TEXTS = """() => [...document.querySelectorAll('figure[data-chart] svg text')].map(
    t => [t.textContent, getComputedStyle(t).fontFamily])"""

_PROBE = """() => {
    const label = [...document.querySelectorAll('figure[data-chart] svg text')]
        .find(t => t.textContent.includes('回収率'));
    label.dataset.probe = 'chart';
    document.querySelector('table[data-bets] tbody td:nth-child(6)').dataset.probe = 'horses';
}"""


def _fonts_drawing(page: Any, selector: str) -> dict[str, int]:
    """The fonts Chromium drew the element's text with: family → glyphs (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {f["familyName"]: f["glyphCount"] for f in fonts}


def test_japanese_labels_are_text_drawn_with_a_japanese_font(
    browser: Any, reports: dict[str, Path]
) -> None:
    context, page, requested, _ = _open(browser, reports["normal"])
    try:
        texts = dict(page.evaluate(_TEXTS))
        assert "回収率 return rate (%)" in texts and "単勝" in texts
        assert texts["単勝"].startswith("IPAexGothic,") and "Noto Sans CJK JP" in texts["単勝"]
        assert page.locator('svg path[id^="DejaVuSans"]').count() == 0  # no glyph outlines
        page.evaluate("async () => { await document.fonts.ready; }")
        page.evaluate(_PROBE)
        # every Japanese glyph is drawn by the page's own font, here where no CJK font is
        # installed: 3 for 回収率, and the horse's name whole; Latin stays in the system's font
        chart = _fonts_drawing(page, '[data-probe="chart"]')
        label = "回収率 return rate (%)"
        assert chart.get("IPAexGothic") == 3 and sum(chart.values()) == len(label)
        page.click("details.bets summary")  # the long list is folded: open it to draw it
        horses = page.locator('[data-probe="horses"]').text_content() or ""
        drawn = _fonts_drawing(page, '[data-probe="horses"]')
        assert horses and drawn == {"IPAexGothic": len(horses)}
        assert set(requested) == {reports["normal"].resolve().as_uri()}
    finally:
        context.close()
