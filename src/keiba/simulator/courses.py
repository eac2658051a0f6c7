"""The racecourses: real course distances per venue and surface, and what each course does.

Each course carries how often races are run over it (`weight`), its maximum field (fewer
than 18 at tight tracks and short starts), the draw bias (`draw_slope`: strength gained by
the outermost horse over the innermost; negative where inside draws are favoured, as at
tight turf sprints), how many corners a passing record has, and the direction of turn.
`standard_time_s` gives a plausible winning time for a surface, distance and going.
"""

from __future__ import annotations

from dataclasses import dataclass

from keiba.common.ids import Venue

__all__ = [
    "DIRT",
    "JUMP",
    "SURFACE_NAMES",
    "TURF",
    "Course",
    "courses_at",
    "standard_time_s",
    "venue_has_jumps",
]

TURF, DIRT, JUMP = 0, 1, 2
SURFACE_NAMES = ("turf", "dirt", "jump")

_RIGHT, _LEFT, _STRAIGHT = "右", "左", "直線"
_DIRECTION = {
    Venue.SAPPORO: _RIGHT,
    Venue.HAKODATE: _RIGHT,
    Venue.FUKUSHIMA: _RIGHT,
    Venue.NIIGATA: _LEFT,
    Venue.TOKYO: _LEFT,
    Venue.NAKAYAMA: _RIGHT,
    Venue.CHUKYO: _LEFT,
    Venue.KYOTO: _RIGHT,
    Venue.HANSHIN: _RIGHT,
    Venue.KOKURA: _RIGHT,
}
# How tight the turns are: 1 = small track (inside draws count), 0 = big galloping track.
_TIGHTNESS = {
    Venue.SAPPORO: 1.0,
    Venue.HAKODATE: 1.0,
    Venue.FUKUSHIMA: 1.0,
    Venue.KOKURA: 1.0,
    Venue.NAKAYAMA: 0.8,
    Venue.HANSHIN: 0.5,
    Venue.CHUKYO: 0.5,
    Venue.KYOTO: 0.4,
    Venue.NIIGATA: 0.2,
    Venue.TOKYO: 0.1,
}

# (distance, weight, max field) per venue and surface.
_Table = tuple[tuple[int, float, int], ...]
_LAYOUT: dict[Venue, tuple[_Table, _Table, _Table]] = {
    Venue.SAPPORO: (
        ((1200, 3, 16), (1500, 2, 16), (1800, 3, 14), (2000, 2, 16), (2600, 0.7, 14)),
        ((1000, 2, 12), (1700, 4, 14), (2400, 0.4, 14)),
        (),
    ),
    Venue.HAKODATE: (
        ((1200, 3, 16), (1800, 3, 14), (2000, 2, 16), (2600, 0.5, 14)),
        ((1000, 2, 12), (1700, 4, 14), (2400, 0.3, 14)),
        (),
    ),
    Venue.FUKUSHIMA: (
        ((1200, 3, 16), (1800, 3, 16), (2000, 2, 16), (2600, 0.5, 16)),
        ((1150, 3, 15), (1700, 4, 15), (2400, 0.3, 14)),
        ((2750, 1, 14), (3380, 0.5, 14)),
    ),
    Venue.NIIGATA: (
        (
            (1000, 1, 18),
            (1200, 1.5, 18),
            (1400, 1.5, 18),
            (1600, 2, 18),
            (1800, 2, 18),
            (2000, 2, 18),
            (2200, 0.5, 18),
            (2400, 0.3, 18),
        ),
        ((1200, 3, 15), (1800, 4, 15), (2500, 0.3, 15)),
        ((2850, 1, 14), (3250, 0.5, 14)),
    ),
    Venue.TOKYO: (
        (
            (1400, 3, 18),
            (1600, 4, 18),
            (1800, 3, 18),
            (2000, 2, 18),
            (2300, 0.3, 16),
            (2400, 2, 18),
            (3400, 0.1, 16),
        ),
        ((1300, 1, 16), (1400, 4, 16), (1600, 4, 16), (2100, 3, 16)),
        ((3000, 0.7, 14), (3110, 1, 14)),
    ),
    Venue.NAKAYAMA: (
        (
            (1200, 3, 16),
            (1600, 3, 16),
            (1800, 2, 16),
            (2000, 3, 18),
            (2200, 1, 18),
            (2500, 1, 16),
            (3600, 0.1, 16),
        ),
        ((1200, 5, 16), (1800, 5, 16), (2400, 0.3, 16), (2500, 0.2, 16)),
        ((2880, 1.5, 16), (3200, 0.5, 16), (3570, 0.5, 16), (4100, 0.05, 16), (4250, 0.05, 16)),
    ),
    Venue.CHUKYO: (
        ((1200, 2, 18), (1400, 2, 18), (1600, 2, 16), (2000, 3, 18), (2200, 1, 18)),
        ((1200, 3, 16), (1400, 3, 16), (1800, 5, 16), (1900, 1, 16)),
        ((3000, 1, 14), (3300, 0.5, 14)),
    ),
    Venue.KYOTO: (
        (
            (1200, 2, 18),
            (1400, 2, 18),
            (1600, 3, 18),
            (1800, 3, 18),
            (2000, 2, 17),
            (2200, 1, 18),
            (2400, 1, 18),
            (3000, 0.1, 18),
            (3200, 0.05, 18),
        ),
        ((1200, 4, 16), (1400, 2, 16), (1800, 5, 16), (1900, 1, 16)),
        ((2910, 1, 14), (3170, 0.5, 14), (3930, 0.1, 14)),
    ),
    Venue.HANSHIN: (
        (
            (1200, 2, 18),
            (1400, 3, 18),
            (1600, 3, 18),
            (1800, 3, 18),
            (2000, 2, 18),
            (2200, 1, 18),
            (2400, 1, 18),
            (2600, 0.2, 16),
            (3000, 0.1, 16),
        ),
        ((1200, 4, 16), (1400, 3, 16), (1800, 5, 16), (2000, 1, 16)),
        ((2970, 1, 14), (3140, 0.5, 14), (3900, 0.1, 14)),
    ),
    Venue.KOKURA: (
        ((1200, 4, 18), (1800, 3, 16), (2000, 3, 18), (2600, 0.3, 14)),
        ((1000, 2, 14), (1700, 5, 16), (2400, 0.2, 14)),
        ((2860, 1, 14), (3390, 0.5, 14)),
    ),
}


@dataclass(frozen=True)
class Course:
    venue: Venue
    surface: int
    distance_m: int
    weight: float
    max_field: int
    draw_slope: float
    corners: int
    direction: str


def _draw_slope(venue: Venue, surface: int, distance: int) -> float:
    tight = _TIGHTNESS[venue]
    if surface == JUMP:
        return 0.0
    if surface == TURF:
        if venue is Venue.NIIGATA and distance == 1000:
            return 0.35
        short = 1.5 if distance <= 1400 else (0.6 if distance >= 2400 else 1.0)
        return -(0.04 + 0.2 * tight) * short
    return 0.12 if distance <= 1400 else -0.06 * tight


def _corners(venue: Venue, surface: int, distance: int) -> int:
    if surface == TURF and venue is Venue.NIIGATA and distance == 1000:
        return 0
    if surface == JUMP or distance >= 2000:
        return 4
    return 2 if distance <= 1400 else 3


def _build() -> dict[Venue, tuple[tuple[Course, ...], ...]]:
    catalogue: dict[Venue, tuple[tuple[Course, ...], ...]] = {}
    for venue, tables in _LAYOUT.items():
        per_surface = []
        for surface, rows in enumerate(tables):
            per_surface.append(
                tuple(
                    Course(
                        venue=venue,
                        surface=surface,
                        distance_m=distance,
                        weight=float(weight),
                        max_field=max_field,
                        draw_slope=_draw_slope(venue, surface, distance),
                        corners=_corners(venue, surface, distance),
                        direction=(
                            _STRAIGHT
                            if _corners(venue, surface, distance) == 0
                            else _DIRECTION[venue]
                        ),
                    )
                    for distance, weight, max_field in rows
                )
            )
        catalogue[venue] = tuple(per_surface)
    return catalogue


_CATALOGUE = _build()


def courses_at(venue: Venue, surface: int) -> tuple[Course, ...]:
    """The courses of one surface at a venue (empty where it has none, e.g. jumps at Sapporo)."""
    return _CATALOGUE[venue][surface]


def venue_has_jumps(venue: Venue) -> bool:
    return bool(_CATALOGUE[venue][JUMP])


# Going index 0..3 = 良, 稍重, 重, 不良: turf gets slower as it gets wetter, dirt faster.
_GOING_FACTOR = {
    TURF: (1.0, 1.006, 1.013, 1.022),
    DIRT: (1.0, 0.994, 0.989, 0.986),
    JUMP: (1.0, 1.008, 1.016, 1.026),
}


def standard_time_s(surface: int, distance_m: int, going: int) -> float:
    """A typical winning time in seconds (turf 1600 m ≈ 1:34.4, dirt 1800 m ≈ 1:51.4)."""
    if surface == TURF:
        base = 0.064 * distance_m - 8.0
    elif surface == DIRT:
        base = 0.0655 * distance_m - 6.5
    else:
        base = 0.0655 * distance_m + 6.0
    return base * _GOING_FACTOR[surface][going]
