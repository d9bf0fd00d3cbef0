"""The network's region boundaries, and which of them an alert's drawn area touches.

The boundaries are Eurostat's NUTS 2021 regions at 1:20 million (`data/nuts-2021-20M.geojson`,
source and attribution in `data/NUTS.md`): generalised, good to tell which provinces a flood
polygon lies over, not to survey a border. The registry routes by them and the gateway checks
a sender's drawn areas against them, so both read the same file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from shapely import Point, Polygon, STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from schemas.cap_types import Circle

DATA = Path(__file__).parent / "data" / "nuts-2021-20M.geojson"
KM_PER_DEGREE = 111.32
"""Kilometres per degree of latitude (and of longitude at the equator), WGS84 mean."""
_CIRCLE_POINTS = 64


class Boundaries:
    """Region outlines by NUTS code, with an index to find those a shape touches."""

    def __init__(self, outlines: dict[str, BaseGeometry]) -> None:
        self._outlines = outlines
        self._codes = list(outlines)
        self._tree = STRtree([outlines[code] for code in self._codes])

    @classmethod
    @cache
    def load(cls) -> Boundaries:
        """The committed NUTS boundaries (read once per process)."""
        features = json.loads(DATA.read_text(encoding="utf-8"))["features"]
        return cls({f["properties"]["id"]: shape(f["geometry"]) for f in features})

    def known(self, code: str) -> bool:
        """Whether there is an outline for this region."""
        return code in self._outlines

    def touching(self, drawn: Iterable[BaseGeometry]) -> set[str]:
        """The codes of every region (of any level) that one of the drawn shapes touches."""
        found: set[str] = set()
        for item in drawn:
            found.update(self._codes[i] for i in self._tree.query(item, predicate="intersects"))
        return found


def console_outlines() -> dict[str, list[list[list[float]]]]:
    """The NUTS 2 regions' outlines for the console's map, the same boundaries simplified for
    drawing (to 0.005°, a few hundred metres): per code, its rings of [longitude, latitude]
    (one per part of a region in several parts; holes left out)."""
    outlines: dict[str, list[list[list[float]]]] = {}
    features = json.loads(DATA.read_text(encoding="utf-8"))["features"]
    for feature in features:
        if feature["properties"]["level"] != 2:
            continue
        simplified = shape(feature["geometry"]).simplify(0.005, preserve_topology=True)
        parts = getattr(simplified, "geoms", [simplified])
        outlines[feature["properties"]["id"]] = [
            [[round(x, 3), round(y, 3)] for x, y in part.exterior.coords[:-1]] for part in parts
        ]
    return dict(sorted(outlines.items()))


def polygon_shape(points: Iterable[tuple[float, float]]) -> BaseGeometry:
    """A CAP polygon (latitude, longitude pairs) as a shape (x = longitude, y = latitude)."""
    ring = Polygon([(lon, lat) for lat, lon in points])
    # A self-intersecting ring, as some issuers draw, still covers what it encloses.
    return ring if ring.is_valid else ring.buffer(0)


def circle_shape(circle: Circle) -> BaseGeometry:
    """A CAP circle as a shape: a polygon of 64 points, the radius converted to degrees at the
    centre's latitude (accurate to well within the boundaries' own generalisation)."""
    if circle.radius_km == 0:
        return Point(circle.lon, circle.lat)
    dlat = circle.radius_km / KM_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(circle.lat)), 1e-6)
    return Polygon(
        [
            (
                circle.lon + dlon * math.cos(2 * math.pi * k / _CIRCLE_POINTS),
                circle.lat + dlat * math.sin(2 * math.pi * k / _CIRCLE_POINTS),
            )
            for k in range(_CIRCLE_POINTS)
        ]
    )


def drawn_shapes(
    polygons: Iterable[tuple[tuple[float, float], ...]], circles: Iterable[Circle]
) -> list[BaseGeometry]:
    """The shapes of an alert's polygons and circles."""
    return [*map(polygon_shape, polygons), *map(circle_shape, circles)]
