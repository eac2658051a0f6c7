"""The race program: what each of a venue-day's twelve races is.

A race is for one category of horses (an age condition such as 2歳 or 3歳以上 and a class
such as 未勝利 or 2勝), over one course, with a going and weather of the day. The card follows
the usual JRA shape (maiden races early, newcomers mid-morning, the higher classes in the
afternoon, the main race as race 11, a jump race on many Saturdays), and each slot's class is
drawn in proportion to how many horses of that class are ready to run, so the program
follows the horse population as JRA's planners do. The 24 G1 races (and the two J-G1s) are
placed on their traditional venue and date; other graded and listed races get plausible
names and grades by weekday and venue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from keiba.common.ids import Venue
from keiba.simulator.calendar import RaceDay
from keiba.simulator.courses import DIRT, JUMP, TURF, Course, courses_at, venue_has_jumps
from keiba.simulator.population import BoolArray, IntArray

__all__ = [
    "CATEGORIES",
    "GRADES",
    "Category",
    "Eligibility",
    "ProgramPlanner",
    "RaceSpec",
]

GRADES = ("G1", "G2", "G3", "L", "OP")
CLASS_LEVEL = {"新馬": 0, "未勝利": 1, "1勝": 2, "2勝": 3, "3勝": 4, "OP": 5}


@dataclass(frozen=True)
class Category:
    """Which horses a race is for."""

    code: int
    race_class: str
    age_label: str
    months: tuple[int, int]
    age_min: int
    age_max: int
    wins_min: int
    wins_max: int
    jump: bool = False
    unraced: bool = False
    raced: bool = False

    @property
    def level(self) -> int:
        return CLASS_LEVEL[self.race_class]

    def valid_in(self, month: int) -> bool:
        return self.months[0] <= month <= self.months[1]


_MANY = 99
CATEGORIES: tuple[Category, ...] = (
    Category(0, "新馬", "2歳", (6, 12), 2, 2, 0, 0, unraced=True),
    Category(1, "未勝利", "2歳", (7, 12), 2, 2, 0, 0, raced=True),
    Category(2, "1勝", "2歳", (8, 12), 2, 2, 1, 1),
    Category(3, "OP", "2歳", (7, 12), 2, 2, 2, _MANY),
    Category(4, "新馬", "3歳", (1, 3), 3, 3, 0, 0, unraced=True),
    Category(5, "未勝利", "3歳", (1, 9), 3, 3, 0, 0),
    Category(6, "1勝", "3歳", (1, 5), 3, 3, 1, 1),
    Category(7, "OP", "3歳", (1, 5), 3, 3, 2, _MANY),
    Category(8, "1勝", "3歳以上", (6, 12), 3, _MANY, 1, 1),
    Category(9, "2勝", "3歳以上", (6, 12), 3, _MANY, 2, 2),
    Category(10, "3勝", "3歳以上", (6, 12), 3, _MANY, 3, 3),
    Category(11, "OP", "3歳以上", (6, 12), 3, _MANY, 4, _MANY),
    Category(12, "1勝", "4歳以上", (1, 5), 4, _MANY, 1, 1),
    Category(13, "2勝", "4歳以上", (1, 5), 4, _MANY, 2, 2),
    Category(14, "3勝", "4歳以上", (1, 5), 4, _MANY, 3, 3),
    Category(15, "OP", "4歳以上", (1, 5), 4, _MANY, 4, _MANY),
    Category(16, "未勝利", "障害4歳以上", (1, 5), 4, _MANY, 0, 0, jump=True),
    Category(17, "OP", "障害4歳以上", (1, 5), 4, _MANY, 1, _MANY, jump=True),
    Category(18, "未勝利", "障害3歳以上", (6, 12), 3, _MANY, 0, 0, jump=True),
    Category(19, "OP", "障害3歳以上", (6, 12), 3, _MANY, 1, _MANY, jump=True),
)
_FLAT = tuple(c for c in CATEGORIES if not c.jump)
_JUMPS = tuple(c for c in CATEGORIES if c.jump)


@dataclass(frozen=True)
class Eligibility:
    """The state of the ready horses that decides which races they may enter."""

    age: IntArray
    wins: IntArray
    jump_wins: IntArray
    runs: IntArray
    jumper: BoolArray
    female: BoolArray
    early: BoolArray
    """Not rested enough for an ordinary race, but connections would run it in a graded one."""

    def mask(self, category: Category, *, graded: bool = False, fillies: bool = False) -> BoolArray:
        wins = self.jump_wins if category.jump else self.wins
        wins_min = category.wins_min
        if graded and category.race_class == "OP" and category.age_max <= 3:
            wins_min = 1  # 1-win juveniles and 3-year-olds run in graded stakes
        ok = (
            (self.jumper == category.jump)
            & (self.age >= category.age_min)
            & (self.age <= category.age_max)
            & (wins >= wins_min)
            & (wins <= category.wins_max)
        )
        if graded and category.race_class == "OP" and category.age_label == "3歳以上":
            ok |= ~self.jumper & (self.age == 3) & (self.wins >= 2)  # classic 3-year-olds
        if category.unraced:
            ok &= self.runs == 0
        if category.raced:
            ok &= self.runs > 0
        if fillies:
            ok &= self.female
        if not graded:
            ok &= ~self.early
        return np.asarray(ok, dtype=np.bool_)


@dataclass(frozen=True)
class RaceSpec:
    day: RaceDay
    race_no: int
    category: Category
    course: Course
    grade: str | None
    name: str
    handicap: bool
    special: bool
    fillies: bool
    target_field: int
    going: int
    weather: str
    priority: float


@dataclass(frozen=True)
class _G1:
    name: str
    venue: Venue
    month: int
    day: int
    weekday: int
    surface: int
    distance: int
    category: int
    fillies: bool = False


_SAT, _SUN = 5, 6
_G1_TABLE = (
    _G1("フェブラリーステークス", Venue.TOKYO, 2, 20, _SUN, DIRT, 1600, 15),
    _G1("高松宮記念", Venue.CHUKYO, 3, 27, _SUN, TURF, 1200, 15),
    _G1("大阪杯", Venue.HANSHIN, 4, 3, _SUN, TURF, 2000, 15),
    _G1("桜花賞", Venue.HANSHIN, 4, 10, _SUN, TURF, 1600, 7, fillies=True),
    _G1("中山グランドジャンプ", Venue.NAKAYAMA, 4, 16, _SAT, JUMP, 4250, 17),
    _G1("皐月賞", Venue.NAKAYAMA, 4, 17, _SUN, TURF, 2000, 7),
    _G1("天皇賞(春)", Venue.KYOTO, 5, 1, _SUN, TURF, 3200, 15),
    _G1("NHKマイルカップ", Venue.TOKYO, 5, 8, _SUN, TURF, 1600, 7),
    _G1("ヴィクトリアマイル", Venue.TOKYO, 5, 15, _SUN, TURF, 1600, 15, fillies=True),
    _G1("優駿牝馬", Venue.TOKYO, 5, 22, _SUN, TURF, 2400, 7, fillies=True),
    _G1("東京優駿", Venue.TOKYO, 5, 29, _SUN, TURF, 2400, 7),
    _G1("安田記念", Venue.TOKYO, 6, 5, _SUN, TURF, 1600, 11),
    _G1("宝塚記念", Venue.HANSHIN, 6, 26, _SUN, TURF, 2200, 11),
    _G1("スプリンターズステークス", Venue.NAKAYAMA, 10, 2, _SUN, TURF, 1200, 11),
    _G1("秋華賞", Venue.KYOTO, 10, 16, _SUN, TURF, 2000, 7, fillies=True),
    _G1("菊花賞", Venue.KYOTO, 10, 23, _SUN, TURF, 3000, 7),
    _G1("天皇賞(秋)", Venue.TOKYO, 10, 30, _SUN, TURF, 2000, 11),
    _G1("エリザベス女王杯", Venue.KYOTO, 11, 13, _SUN, TURF, 2200, 11, fillies=True),
    _G1("マイルチャンピオンシップ", Venue.KYOTO, 11, 20, _SUN, TURF, 1600, 11),
    _G1("ジャパンカップ", Venue.TOKYO, 11, 27, _SUN, TURF, 2400, 11),
    _G1("チャンピオンズカップ", Venue.CHUKYO, 12, 4, _SUN, DIRT, 1800, 11),
    _G1("阪神ジュベナイルフィリーズ", Venue.HANSHIN, 12, 11, _SUN, TURF, 1600, 3, fillies=True),
    _G1("朝日杯フューチュリティステークス", Venue.HANSHIN, 12, 18, _SUN, TURF, 1600, 3),
    _G1("中山大障害", Venue.NAKAYAMA, 12, 24, _SAT, JUMP, 4100, 19),
    _G1("有馬記念", Venue.NAKAYAMA, 12, 25, _SUN, TURF, 2500, 11),
    _G1("ホープフルステークス", Venue.NAKAYAMA, 12, 27, _SAT, TURF, 2000, 3),
)

# Class-level weights per race number (levels: 新馬, 未勝利, 1勝, 2勝, 3勝, OP).
_CARD = (
    (0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    (0.4, 0.6, 0.0, 0.0, 0.0, 0.0),
    (0.6, 0.4, 0.15, 0.0, 0.0, 0.0),
    (0.6, 0.2, 0.4, 0.0, 0.0, 0.0),
    (0.1, 0.3, 0.7, 0.0, 0.0, 0.0),
    (0.0, 0.1, 0.8, 0.2, 0.0, 0.0),
    (0.0, 0.0, 0.6, 0.5, 0.05, 0.0),
    (0.0, 0.0, 0.4, 0.6, 0.15, 0.05),
    (0.0, 0.0, 0.1, 0.5, 0.6, 0.3),
    (0.0, 0.0, 0.0, 0.05, 0.25, 1.0),
    (0.0, 0.0, 0.6, 0.5, 0.05, 0.0),
)
_ASSUMED_FIELD = 14

_PLACES = {
    Venue.TOKYO: ("府中", "八王子", "多摩川", "鎌倉", "稲城", "調布", "国立", "立川", "秩父"),
    Venue.NAKAYAMA: ("船橋", "習志野", "市川", "千葉", "館山", "鋸山", "房総", "犬吠埼"),
    Venue.KYOTO: ("嵐山", "鴨川", "比叡", "宇治川", "桂川", "大原", "北山", "鞍馬"),
    Venue.HANSHIN: ("武庫川", "甲南", "六甲", "須磨", "明石", "淀川", "芦屋", "舞子"),
    Venue.CHUKYO: ("熱田", "犬山", "長良川", "岡崎", "名古屋", "知多", "三河", "木曽川"),
    Venue.KOKURA: ("門司", "関門橋", "玄海", "響灘", "若松", "筑後川", "由布院", "別府"),
    Venue.FUKUSHIMA: ("阿武隈", "磐梯山", "猪苗代", "会津", "郡山", "安達太良", "喜多方"),
    Venue.NIIGATA: ("信濃川", "佐渡", "弥彦", "越後", "村上", "妙高", "瀬波", "長岡"),
    Venue.SAPPORO: ("大通", "藻岩山", "手稲", "定山渓", "羊蹄山", "富良野", "積丹"),
    Venue.HAKODATE: ("五稜郭", "湯の川", "大沼", "駒ケ岳", "松前", "恵山", "奥尻"),
}
_STAKES_WORDS = (
    "紫苑", "すみれ", "若葉", "青葉", "白百合", "ひいらぎ", "萩", "桂", "初春",
    "春雷", "新涼", "晩秋", "朱雀", "白虎", "青龍", "玄武", "ポラリス", "アンドロメダ",
)  # fmt: skip
_SPONSORS = (
    "毎日", "日経", "産経", "朝日", "中日", "報知", "京都新聞", "関西テレビ",
    "フジテレビ", "ラジオNIKKEI", "東京新聞", "スポニチ",
)  # fmt: skip
_WEATHERS = ("晴", "曇", "小雨", "雨", "雪")
_RAIN_EFFECT = (-0.45, 0.0, 0.9, 1.8, 1.2)
_GOING_THRESHOLDS = (0.76, 1.39, 2.2)


def _pick(rng: np.random.Generator, weights: npt.NDArray[np.float64]) -> int:
    """An index drawn in proportion to `weights` (faster than `Generator.choice` for one)."""
    cumulative = np.cumsum(weights)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, weights.size - 1)


@cache
def _course_weights(venue: Venue, surface: int) -> tuple[npt.NDArray[np.float64], ...]:
    courses = courses_at(venue, surface)
    weights = np.array([c.weight for c in courses])
    distances = np.array([c.distance_m for c in courses], dtype=np.float64)
    young = weights * np.where(distances >= 2200, 0.25, 1.0)
    stakes = weights * np.where(distances >= 1800, 1.6, 1.0)
    return weights, young, stakes


def _class_label(category: Category) -> str:
    return {
        "新馬": "新馬",
        "未勝利": "未勝利",
        "1勝": "1勝クラス",
        "2勝": "2勝クラス",
        "3勝": "3勝クラス",
        "OP": "オープン",
    }[category.race_class]


class ProgramPlanner:
    """Builds each race day's program; remembers recent weather per venue."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._moisture: dict[Venue, tuple[dt.date, float]] = {}
        self._g1_slots: dict[tuple[dt.date, Venue], _G1] = {}
        self._planned_years: set[int] = set()

    def plan_year(self, calendar: list[tuple[dt.date, tuple[RaceDay, ...]]]) -> None:
        """Place the G1 races of the years in `calendar` on their venue's nearest race day."""
        days_by_venue: dict[Venue, list[dt.date]] = {}
        for date, days in calendar:
            for day in days:
                days_by_venue.setdefault(day.venue, []).append(date)
        years = sorted({date.year for date, _ in calendar} - self._planned_years)
        for year in years:
            taken: set[tuple[dt.date, Venue]] = set()
            for g1 in _G1_TABLE:
                target = dt.date(year, g1.month, g1.day)
                options = [
                    d
                    for d in days_by_venue.get(g1.venue, [])
                    if d.year == year and d.weekday() == g1.weekday and (d, g1.venue) not in taken
                ]
                if not options:
                    continue
                best = min(options, key=lambda d: abs((d - target).days))
                if abs((best - target).days) <= 45:
                    taken.add((best, g1.venue))
                    self._g1_slots[(best, g1.venue)] = g1
            self._planned_years.add(year)

    def _weather(self, day: RaceDay) -> tuple[str, float]:
        rng = self._rng
        month = day.date.month
        rainy = month in (6, 7, 9)
        probabilities = np.array([0.5, 0.31, 0.13 if rainy else 0.1, 0.12 if rainy else 0.09, 0.0])
        if month in (12, 1, 2, 3):
            probabilities[4] = 0.012
        weather = _pick(rng, probabilities)
        previous = self._moisture.get(day.venue)
        carried = 0.0
        if previous is not None and (day.date - previous[0]).days <= 3:
            carried = 0.45 * max(previous[1], 0.0)
        moisture = carried + float(rng.normal(0.0, 0.65)) + _RAIN_EFFECT[weather]
        self._moisture[day.venue] = (day.date, moisture)
        return _WEATHERS[weather], moisture

    def _going(self, surface: int, moisture: float) -> int:
        wetness = moisture + (0.3 if surface == DIRT else 0.0) + float(self._rng.normal(0.0, 0.15))
        return int(np.searchsorted(_GOING_THRESHOLDS, wetness))

    def _course(self, venue: Venue, category: Category, grade: str | None) -> Course:
        rng = self._rng
        if category.jump:
            surface = JUMP
        else:
            p_turf = 0.5
            if grade is not None:
                p_turf = 0.8
            elif category.age_label == "2歳" or category.race_class == "新馬":
                p_turf = 0.56
            if venue in (Venue.SAPPORO, Venue.HAKODATE):
                p_turf += 0.08
            surface = TURF if rng.random() < p_turf else DIRT
        plain, young, stakes = _course_weights(venue, surface)
        if grade is not None:
            weights = stakes
        elif category.age_label == "2歳" or category.race_class == "新馬":
            weights = young
        else:
            weights = plain
        return courses_at(venue, surface)[_pick(rng, weights)]

    def _grade(self, day: RaceDay) -> str:
        sunday = day.date.weekday() != _SAT
        if day.slot == 0:
            p = (0.0, 0.55, 0.45, 0.0, 0.0) if sunday else (0.0, 0.45, 0.35, 0.2, 0.0)
        else:
            p = (0.0, 0.05, 0.35, 0.3, 0.3) if sunday else (0.0, 0.0, 0.2, 0.35, 0.45)
        return GRADES[_pick(self._rng, np.array(p))]

    def _name(self, day: RaceDay, category: Category, grade: str | None, special: bool) -> str:
        rng = self._rng
        places = _PLACES[day.venue]
        place = places[int(rng.integers(0, len(places)))]
        if grade is None and not special:
            return f"{category.age_label}{_class_label(category)}"
        if grade is None:
            return f"{place}ステークス" if category.race_class == "3勝" else f"{place}特別"
        if category.jump:
            return f"{place}ジャンプステークス"
        word = _STAKES_WORDS[int(rng.integers(0, len(_STAKES_WORDS)))]
        sponsor = _SPONSORS[int(rng.integers(0, len(_SPONSORS)))]
        forms = (
            f"{place}ステークス",
            f"{word}ステークス",
            f"{sponsor}杯",
            f"{sponsor}賞{place}ステークス",
            f"{place}記念" if grade in ("G2", "G3") else f"{place}カップ",
        )
        return forms[int(rng.integers(0, len(forms)))]

    def _target_field(self, course: Course, jump: bool) -> int:
        shortfall = int(self._rng.exponential(3.0 if jump else 3.8))
        return max(5, min(course.max_field, (14 if jump else 18) - shortfall))

    def program(
        self, date: dt.date, days: tuple[RaceDay, ...], supply: dict[int, int]
    ) -> list[RaceSpec]:
        """The races of one date at every venue; `supply` counts ready horses per category."""
        rng = self._rng
        month = date.month
        remaining = {code: float(count) for code, count in supply.items()}
        flat = [c for c in _FLAT if c.valid_in(month)]
        specs: list[RaceSpec] = []
        for day in days:
            weather, moisture = self._weather(day)
            jump_slot = 0
            if venue_has_jumps(day.venue):
                chance = 0.7 if date.weekday() == _SAT else 0.2
                if rng.random() < chance:
                    jump_slot = 4 if rng.random() < 0.6 else (1 if rng.random() < 0.5 else 8)
            for race_no in range(1, 13):
                g1 = self._g1_slots.get((date, day.venue)) if race_no == 11 else None
                fillies = False
                special = False
                if g1 is not None:
                    category = CATEGORIES[g1.category]
                    course = next(
                        c for c in courses_at(day.venue, g1.surface) if c.distance_m == g1.distance
                    )
                    grade: str | None = "G1"
                    name = g1.name
                    fillies = g1.fillies
                else:
                    if race_no == jump_slot:
                        options = [c for c in _JUMPS if c.valid_in(month)]
                        base = np.array([0.7 if c.race_class == "未勝利" else 0.3 for c in options])
                    else:
                        options = flat
                        base = np.array([_CARD[race_no - 1][c.level] for c in flat])
                    stock = np.array([max(remaining.get(c.code, 0.0), 0.0) for c in options])
                    weights = base * stock
                    if weights.sum() <= 0:
                        weights = np.where(base > 0, 1.0, 0.0) * (stock + 1e-9)
                    if weights.sum() <= 0:
                        weights = stock + 1e-9
                    category = options[_pick(rng, weights)]
                    grade = None
                    if category.race_class == "OP" and race_no == 11 and not category.jump:
                        grade = self._grade(day)
                    elif category.race_class == "OP" and not category.jump:
                        grade = "OP"
                    if grade is None and category.level >= 2 and race_no in (9, 10, 11, 12):
                        special = rng.random() < (0.3 if race_no == 12 else 0.85)
                    course = self._course(day.venue, category, grade)
                    name = self._name(day, category, grade, special)
                remaining[category.code] = remaining.get(category.code, 0.0) - _ASSUMED_FIELD
                handicap = False
                if grade in ("G2", "G3", "L", "OP"):
                    handicap = rng.random() < (0.1 if grade == "G2" else 0.3)
                elif special and category.level >= 3:
                    handicap = rng.random() < 0.15
                priority = {"G1": 5.0, "G2": 4.0, "G3": 3.5, "L": 3.0, "OP": 2.5}.get(
                    grade or "", 1.0 if special else 0.0
                )
                specs.append(
                    RaceSpec(
                        day=day,
                        race_no=race_no,
                        category=category,
                        course=course,
                        grade=grade,
                        name=name,
                        handicap=handicap,
                        special=special or grade is not None,
                        fillies=fillies,
                        target_field=self._target_field(course, category.jump),
                        going=self._going(course.surface, moisture),
                        weather=weather,
                        priority=priority + float(rng.random()),
                    )
                )
        return specs
