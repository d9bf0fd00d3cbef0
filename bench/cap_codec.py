"""CAP codec cost: crossalert's validating parse/serialise beside plain lxml and json.

    .venv/bin/python -m bench.cap_codec [--rounds 7] [--passes 20]

Each round reads every valid corpus document `passes` times with each codec, interleaved so
that machine noise hits both alike; figures are medians over rounds of the per-document time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from bench.report import Figure, median, report
from schemas import parse_cap_json, parse_cap_xml, to_cap_json, to_cap_xml
from schemas.cap_types import safe_xml_parser

CORPUS = Path(__file__).parent.parent / "tests" / "cap_corpus" / "valid"

Codec = Callable[[Any], object]


def lxml_parse(document: bytes) -> object:
    """The baseline: lxml alone, with the same hardened parser settings."""
    return etree.fromstring(document, safe_xml_parser())


def per_item_us(function: Codec, items: list[Any], passes: int) -> float:
    """Mean microseconds per call of `function` over `passes` passes through `items`."""
    started = time.perf_counter()
    for _ in range(passes):
        for item in items:
            function(item)
    return (time.perf_counter() - started) / (passes * len(items)) * 1e6


def main() -> None:
    """Measure and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()

    documents = [path.read_bytes() for path in sorted(CORPUS.glob("*.xml"))]
    alerts = [parse_cap_xml(document) for document in documents]
    trees = [etree.fromstring(document, safe_xml_parser()) for document in documents]
    json_texts = [to_cap_json(alert) for alert in alerts]
    json_dicts = [json.loads(text) for text in json_texts]

    # (figure, our function, its inputs, baseline name, baseline function, its inputs)
    pairs: list[tuple[str, Codec, list[Any], str, Codec, list[Any]]] = [
        ("parse_cap_xml", parse_cap_xml, documents, "lxml fromstring", lxml_parse, documents),
        ("to_cap_xml", to_cap_xml, alerts, "lxml tostring", etree.tostring, trees),
        ("parse_cap_json", parse_cap_json, json_texts, "json.loads", json.loads, json_texts),
        ("to_cap_json", to_cap_json, alerts, "json.dumps", json.dumps, json_dicts),
    ]
    ours: dict[str, list[float]] = {pair[0]: [] for pair in pairs}
    base: dict[str, list[float]] = {pair[0]: [] for pair in pairs}
    for _ in range(args.rounds):
        for name, function, items, _, baseline, baseline_items in pairs:
            ours[name].append(per_item_us(function, items, args.passes))
            base[name].append(per_item_us(baseline, baseline_items, args.passes))

    figures = [
        Figure(name, "µs/doc", median(ours[name]), baseline_name, median(base[name]))
        for name, _, _, baseline_name, _, _ in pairs
    ]
    report(
        "cap_codec",
        figures,
        settings={"documents": len(documents), "rounds": args.rounds, "passes": args.passes},
    )


if __name__ == "__main__":
    main()
