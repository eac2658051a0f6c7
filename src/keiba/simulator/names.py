"""Names for the simulated population: Katakana horse names and Japanese-style people's names.

Registered JRA horse names are 2–9 Katakana characters and unique; many combine a stable's
crown prefix (サトノ, メイショウ, …) with a word. Jockeys' and trainers' names are a family
name plus a given name, unique within each group. Everything is drawn from the generator
passed in, so the same seed gives the same names.
"""

from __future__ import annotations

import numpy as np

__all__ = ["horse_names", "person_names"]

_CROWNS = (
    "サトノ", "メイショウ", "マイネル", "エイシン", "タイキ", "ダイワ", "キタサン", "トウカイ",
    "エア", "アドマイヤ", "ナリタ", "スマート", "ミッキー", "レッド", "ロード", "グラン",
    "テイエム", "ビッグ", "ワンダー", "クリノ", "ニシノ", "セイウン", "ヤマニン", "カシノ",
    "ヒシ", "コスモ", "マチカネ", "シゲル", "ウイン", "サンライズ", "ケイアイ", "ゴールド",
    "シルバー", "サクラ", "タガノ", "ショウナン", "ヴィクトリー", "ジュンドー", "リッカ", "ラブ",
)  # fmt: skip
_WORDS = (
    "キング", "クイーン", "スター", "ドリーム", "ブレイブ", "ハート", "ウイング", "ライト",
    "フラッシュ", "ボーイ", "プリンス", "エース", "ロマン", "ファイター", "ソング", "ジョイ",
    "ヒーロー", "ダンサー", "ミラクル", "パワー", "チャンス", "オーラ", "ストーム", "アロー",
    "カイザー", "ルビー", "ダイヤ", "エンジェル", "フォース", "ノヴァ", "リボン", "タイガー",
    "ライオン", "イーグル", "ファルコン", "シチー", "ランナー", "ベル", "ソレイユ", "ルナ",
    "アスール", "ヴェルデ", "ロッソ", "ネロ", "ブランカ", "フェスタ", "グローリー", "レジェンド",
)  # fmt: skip
_SYLLABLES = (
    "ア", "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ", "サ", "シ", "ス", "セ", "ソ",
    "タ", "チ", "ツ", "テ", "ト", "ナ", "ニ", "ネ", "ノ", "ハ", "ヒ", "フ", "ホ", "マ", "ミ",
    "ム", "メ", "モ", "ヤ", "ユ", "ヨ", "ラ", "リ", "ル", "レ", "ロ", "ワ", "ガ", "ギ", "グ",
    "ゴ", "ザ", "ジ", "ズ", "ゼ", "ダ", "デ", "ド", "バ", "ビ", "ブ", "ベ", "ボ", "パ", "ピ",
    "プ", "ポ", "シャ", "シュ", "ショ", "チャ", "ジャ", "ジュ", "ティ", "ディ", "ファ", "フィ",
    "フェ", "フォ", "ヴィ",
)  # fmt: skip
_CODAS = ("ン", "ー", "ッ")
_FAMILY = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田",
    "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森",
    "池田", "橋本", "阿部", "石川", "山下", "中島", "石井", "小川", "前田", "岡田", "長谷川",
    "藤田", "後藤", "近藤", "村上", "遠藤", "青木", "坂本", "福田", "太田", "西村", "藤井",
    "金子", "岡本", "藤原", "中野", "三浦", "原田", "中川", "松田", "竹内", "小野", "田村",
    "和田", "石田", "上田", "森田", "柴田", "酒井", "工藤", "横山", "宮崎", "宮本", "内田",
    "高木", "安藤", "島田", "谷口", "大野", "丸山", "今井", "河野", "藤本", "村田", "武田",
    "上野", "杉山", "増田", "平野", "大塚", "千葉", "久保", "松井", "小島", "岩崎", "桜井",
    "野口", "松尾", "野村", "木下", "菊地", "佐野", "大西", "杉本", "新井", "武", "戸崎",
)  # fmt: skip
_GIVEN = (
    "豊", "勇", "誠", "健", "翔", "拓也", "大輔", "健太", "翔太", "裕二", "和生", "幸四郎",
    "隆之", "康太", "一", "光", "昭", "博", "修", "浩", "学", "剛", "淳", "優", "駿", "涼",
    "蓮", "陸", "海斗", "悠", "慎一", "英明", "泰明", "雅人", "直樹", "竜也", "智之", "信二",
    "克己", "秀樹", "正人", "達也", "武史", "勝己", "典弘", "謙一", "祐介", "亮", "匠", "将",
    "聡", "哲也", "雄一", "貴之", "孝", "圭", "義則", "幸", "洋", "茂", "清", "菜七子", "萌",
)  # fmt: skip

_MAX_HORSE_NAME = 9


def _word(syllables: np.ndarray, codas: np.ndarray, length: int) -> str:
    parts = []
    for k in range(length):
        parts.append(_SYLLABLES[syllables[k]])
        if codas[k] < len(_CODAS):
            parts.append(_CODAS[codas[k]])
    return "".join(parts)


def horse_names(rng: np.random.Generator, count: int) -> list[str]:
    """`count` distinct Katakana names of 2–9 characters."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        batch = max(1000, 2 * (count - len(names)))
        style = rng.random(batch)
        crown = rng.integers(0, len(_CROWNS), batch)
        word = rng.integers(0, len(_WORDS), batch)
        short = rng.integers(2, 4, batch)
        long = rng.integers(3, 7, batch)
        syllables = rng.integers(0, len(_SYLLABLES), (batch, 6))
        # a coda index beyond the tuple means no coda (about 22% of syllables get one)
        codas = rng.integers(0, round(len(_CODAS) / 0.22), (batch, 6))
        for i in range(batch):
            if style[i] < 0.3:
                name = _CROWNS[crown[i]] + _WORDS[word[i]]
            elif style[i] < 0.6:
                name = _CROWNS[crown[i]] + _word(syllables[i], codas[i], int(short[i]))
            elif style[i] < 0.75:
                name = _word(syllables[i], codas[i], int(short[i])) + _WORDS[word[i]]
            else:
                name = _word(syllables[i], codas[i], int(long[i]))
            if not 2 <= len(name) <= _MAX_HORSE_NAME or name in seen:
                continue
            seen.add(name)
            names.append(name)
            if len(names) == count:
                break
    return names


def person_names(rng: np.random.Generator, count: int) -> list[str]:
    """`count` distinct names like 佐藤翔太 (at most the family × given combinations)."""
    if count > len(_FAMILY) * len(_GIVEN):
        raise ValueError(f"can make at most {len(_FAMILY) * len(_GIVEN)} names, asked {count}")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        family = _FAMILY[int(rng.integers(0, len(_FAMILY)))]
        given = _GIVEN[int(rng.integers(0, len(_GIVEN)))]
        name = family + given
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names
