#!/usr/bin/env python3
"""Trim saved netkeiba pages to what keiba's parsers read, for the test fixtures.

    .venv/bin/python scripts/trim-netkeiba-fixture.py ORIGINAL... --out FOLDER

An HTML page keeps only the elements that the parser its file name calls for looks at
(`KINDS`: the paths the parsers in `keiba.data_collector.netkeiba_*` use, each element kept with
everything inside it) and the elements that contain them, with their attributes; everything
else goes, and scripts, styles, comments, images and frames go everywhere. Blank runs become
one line break. The text is written back in the encoding the original bytes are in, whatever
the page declares: a page saved as UTF-8 that declares EUC-JP still does. A page without
`<html>` (the day's race list is a fragment) stays a fragment. JSON answers are copied as they
are. The script is deterministic: the same original gives the same bytes.

Each trimmed page is parsed next to its original, and unless the two results are equal the
script stops before writing it.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import re
import sys
from collections.abc import Callable
from html.entities import codepoint2name
from pathlib import Path
from typing import Any, cast

import lxml.html
from lxml.html import HtmlElement

from keiba.data_collector.netkeiba_cards import parse_card, parse_race_list
from keiba.data_collector.netkeiba_odds import parse_odds_page
from keiba.data_collector.netkeiba_results import parse_db_result, parse_race_result

PAGE = (  # every page: its declared charset and its title
    "//meta[@charset or contains(@content, 'charset')]",
    "//title",
)
RACE_HEADER = (  # race.netkeiba.com (netkeiba_pages.parse_race_header)
    "//link[@rel='canonical']",
    "//meta[@property='og:url']",
    "//h1[contains(@class, 'RaceName')]",
    "//div[@class='RaceData01']",
    "//div[@class='RaceData02']",
)
DB_HEADER = (  # db.netkeiba.com (netkeiba_pages.parse_db_header)
    "//li[@class='race_navi_result']",
    "//div[contains(@class, 'race_num')]//a[contains(@class, 'active')]",
    "//dl[contains(@class, 'racedata')]",
    "//p[contains(@class, 'smalltxt')]",
)
DROP = (  # also inside what is kept, unless it holds what is kept: machinery, forms, pictures
    "//script",
    "//style",
    "//noscript",
    "//iframe",
    "//img",
    "//svg",
    "//comment()",
    "//select",
    "//input",
    "//button",
    "//textarea",
    # what a page puts loose in a table between its rows (pop-up dialogs)
    "//table/*[not(self::tr or self::thead or self::tbody or self::tfoot or self::caption)]",
    "//tbody/*[not(self::tr)]",
)
ENCODINGS = ("utf-8", "euc_jp")

Parser = Callable[[bytes, str], object]


def _race_list(name: str) -> Parser:
    day = dt.datetime.strptime(name[10:18], "%Y%m%d").date()  # noqa: DTZ007 - a date
    return lambda data, page: parse_race_list(data, page, day)


# file name prefix → (the parser that reads the page, what it looks at)
KINDS: dict[str, tuple[Callable[[str], Parser], tuple[str, ...]]] = {
    "db_result_": (
        lambda _: parse_db_result,
        (
            *DB_HEADER,
            "//table[contains(@class, 'race_table_01')]",
            "//table[contains(@class, 'pay_table_01')]",
        ),
    ),
    "race_result_": (
        lambda _: parse_race_result,
        (
            *RACE_HEADER,
            "//table[contains(@class, 'RaceTable01')]",
            "//table[contains(@class, 'Payout_Detail_Table')]",
        ),
    ),
    "race_shutuba_": (
        lambda _: parse_card,
        (*RACE_HEADER, "//table[contains(@class, 'ShutubaTable')]"),
    ),
    "race_odds_": (
        lambda _: parse_odds_page,
        (
            *RACE_HEADER,
            "//span[@class='Num']",  # a horse number, its name in the text after it
            "//span[starts-with(@id, 'odds-')]",
            "//span[@id='official_time']",
        ),
    ),
    "race_list_": (
        _race_list,
        ("//li[contains(@class, 'RaceList_DataItem')]", "//a[contains(@href, 'kaisai_date=')]"),
    ),
}


def kind_of(name: str) -> tuple[Parser, tuple[str, ...]]:
    """The parser a fixture's file name calls for, and the paths of what it reads."""
    for prefix, (parser, paths) in KINDS.items():
        if name.startswith(prefix):
            return parser(name), (*PAGE, *paths)
    raise SystemExit(f"{name}: no parser for this name")


def _entity(error: UnicodeError) -> tuple[str, int]:
    """An HTML entity for a character the page's encoding lacks (EUC-JP has no &nbsp;)."""
    assert isinstance(error, UnicodeEncodeError)
    code = ord(error.object[error.start])
    name = codepoint2name.get(code)
    return (f"&{name};" if name else f"&#{code};"), error.start + 1


codecs.register_error("html-entity", _entity)


def encoding_of(data: bytes) -> str:
    for encoding in ENCODINGS:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise SystemExit(f"not {' or '.join(ENCODINGS)}")


def _elements(doc: HtmlElement, path: str) -> list[Any]:
    return cast(list[Any], doc.xpath(path))


def _prune(element: HtmlElement, keep: set[HtmlElement], around: set[HtmlElement]) -> None:
    """Keep `keep` whole, descend into `around`, remove the rest; a line break between each."""
    element.text = "\n"
    for child in list(element):
        if child in keep:
            if child.tail is None or not child.tail.strip():
                child.tail = "\n"
        elif child in around:
            _prune(child, keep, around)
            child.tail = "\n"
        else:
            element.remove(child)  # its tail goes with it


def trim(text: str, paths: tuple[str, ...]) -> str:
    """The page's text with only what `paths` find, and what holds it."""
    doc = lxml.html.document_fromstring(text)
    keep: set[HtmlElement] = {e for path in paths for e in _elements(doc, path)}
    around = {a for element in keep for a in element.iterancestors()}
    _prune(doc, keep, around)
    for path in DROP:
        for found in _elements(doc, path):
            if found not in keep and found not in around and found.getparent() is not None:
                found.drop_tree()  # keeps its tail: that text belongs to the parent
    for element in doc.iter():
        if element.text and not element.text.strip() and "\n" in element.text:
            element.text = "\n"
        if element.tail and not element.tail.strip() and "\n" in element.tail:
            element.tail = "\n"
    if re.search(r"<html[\s>]", text, re.IGNORECASE):
        doctype = cast(Any, doc.getroottree().docinfo).doctype
        return str(lxml.html.tostring(doc, encoding="unicode", doctype=doctype)) + "\n"
    parts = [*_elements(doc, "/html/head/*"), *_elements(doc, "/html/body/*")]  # still a fragment
    return "".join(str(lxml.html.tostring(p, encoding="unicode")) for p in parts)


def trimmed(original: Path) -> bytes:
    data = original.read_bytes()
    if original.suffix == ".json":
        return data
    encoding = encoding_of(data)
    parse, paths = kind_of(original.name)
    result = trim(data.decode(encoding), paths).encode(encoding, "html-entity")
    if parse(result, original.name) != parse(data, original.name):
        raise SystemExit(f"{original.name}: the trimmed page parses differently")
    return result


def main(argv: list[str]) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("originals", nargs="+", type=Path)
    args.add_argument("--out", type=Path, required=True, help="folder for the trimmed files")
    options = args.parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    for original in options.originals:
        result = trimmed(original)
        (options.out / original.name).write_bytes(result)
        size = original.stat().st_size
        print(f"{original.name}: {size:,} → {len(result):,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
