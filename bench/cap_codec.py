"""CAP codec cost: crossalert's validating parse/serialise beside plain lxml and json, and its
signature verification beside signxml's own.

    .venv/bin/python -m bench.cap_codec [--rounds 7] [--passes 20]

Each round reads every valid corpus document `passes` times with each codec, interleaved so
that machine noise hits both alike; figures are medians over rounds of the per-document time.
For signatures, every valid corpus document is signed once (RSA-SHA256, exclusive c14n, a
2048-bit key and its certificate in KeyInfo); the gateway's verdict (policy require, that
certificate registered) is timed beside signxml verifying the same document with that
certificate and nothing else (no whole-alert checks, no second way to read the signature).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from bench.report import Figure, median, report
from bench.signing import signer
from schemas import parse_cap_json, parse_cap_xml, to_cap_json, to_cap_xml
from schemas.cap_types import safe_xml_parser
from schemas.signatures import SignaturePolicy
from services.alert_gateway.signatures import verify

CORPUS = Path(__file__).parent.parent / "tests" / "cap_corpus" / "valid"

Codec = Callable[[Any], object]
# A figure: its name, our function and its inputs, the baseline's name, function and inputs.
Pair = tuple[str, Codec, list[Any], str, Codec, list[Any]]


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


def _signature_pair(documents: list[bytes]) -> list[Pair]:
    """The gateway's signature verdict, and signxml's bare verification, of signed copies."""
    issuer = signer("bench issuer", valid_from=datetime(2000, 1, 1, tzinfo=UTC),
                    valid_for=timedelta(days=365 * 60))  # fmt: skip
    # Documents the corpus already signs are left out: the bare verifier takes the first
    # signature it finds, which is not this issuer's.
    signed = [issuer.sign(d) for d in documents if b"xmldsig#" not in d]
    keys = [issuer.registered()]
    sent = {document: parse_cap_xml(document).sent for document in signed}

    def ours(document: bytes) -> object:
        verdict = verify(document, policy=SignaturePolicy.REQUIRE, keys=keys, sent=sent[document])
        assert verdict.status == "verified"
        return verdict

    config = SignatureConfiguration(location="./")

    def bare(document: bytes) -> object:
        return XMLVerifier().verify(document, x509_cert=issuer.certificate, expect_config=config)

    return [("verify signatures", ours, signed, "signxml verify", bare, signed)]


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

    pairs: list[Pair] = [
        ("parse_cap_xml", parse_cap_xml, documents, "lxml fromstring", lxml_parse, documents),
        ("to_cap_xml", to_cap_xml, alerts, "lxml tostring", etree.tostring, trees),
        ("parse_cap_json", parse_cap_json, json_texts, "json.loads", json.loads, json_texts),
        ("to_cap_json", to_cap_json, alerts, "json.dumps", json.dumps, json_dicts),
        *_signature_pair(documents),
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
