"""The Japanese font a report page carries, so its Japanese renders wherever it is opened.

The page names the Japanese fonts of every common system first (`keiba.evaluator.report`'s
font stack); for a reader with none of them it embeds, as the last one, a subset of IPAexGothic
(shipped by the `japanize-matplotlib` package, IPA Font License, which allows embedding in
documents) holding exactly the page's CJK glyphs — a WOFF in a `data:` URL, tens of KB.
matplotlib measures chart text with the same font, so Japanese labels are laid out at the width
they are drawn. Without the package the page still names the system fonts, and embeds nothing.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

__all__ = ["EMBEDDED_FAMILY", "font_face_css", "font_path"]

EMBEDDED_FAMILY = "IPAexGothic"
"""The family name of the embedded font (the font's own name, as matplotlib knows it)."""
_CJK_FROM = 0x2E80
"""Characters from here on (CJK radicals, kana, ideographs, full-width forms) are embedded."""


def font_path() -> Path | None:
    """IPAexGothic as `japanize-matplotlib` ships it (located without importing the package,
    which would change matplotlib's settings), or None."""
    spec = importlib.util.find_spec("japanize_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / "ipaexg.ttf"
        if path.exists():
            return path
    return None


def font_face_css(text: str) -> str:
    """An `@font-face` rule embedding the glyphs of `text`'s CJK characters ('' when it has
    none, or without the font). The same text gives the same bytes."""
    wanted = sorted({ord(c) for c in text if ord(c) >= _CJK_FROM})
    path = font_path()
    if not wanted or path is None:
        return ""
    font = TTFont(path, recalcTimestamp=False)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = []  # horizontal Japanese needs no OpenType features
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]  # the copyright and the names stay with it
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.flavor = "woff"
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'@font-face {{ font-family: "{EMBEDDED_FAMILY}"; '
        f'src: url(data:font/woff;base64,{data}) format("woff"); }}'
    )
