"""The Japanese font a page embeds (keiba.evaluator.page_font): exactly the page's CJK glyphs."""

from __future__ import annotations

import base64
import io
import re

from fontTools.ttLib import TTFont

from keiba.evaluator.page_font import EMBEDDED_FAMILY, font_face_css, font_path


def _embedded(css: str) -> TTFont:
    found = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", css)
    assert found is not None, css[:200]
    return TTFont(io.BytesIO(base64.b64decode(found.group(1))))


def test_the_font_ships_with_the_dependencies() -> None:
    path = font_path()
    assert path is not None and path.name == "ipaexg.ttf"


def test_the_subset_holds_the_texts_cjk_glyphs_and_nothing_else() -> None:
    text = "回収率 return rate; 東京 10R ワグネリアン・エポカドーロ"
    css = font_face_css(text)
    assert css.startswith(f'@font-face {{ font-family: "{EMBEDDED_FAMILY}"; ')
    font = _embedded(css)
    assert font.flavor == "woff"
    cjk = {ord(c) for c in text if ord(c) >= 0x2E80}
    assert set(font.getBestCmap()) == cjk  # Latin is left to the reader's own fonts
    assert len(css) < 20_000


def test_the_same_text_gives_the_same_bytes_and_latin_needs_nothing() -> None:
    assert font_face_css("単勝 複勝") == font_face_css("複勝 単勝")
    assert font_face_css("return rate (%), ΔR² → α") == ""
