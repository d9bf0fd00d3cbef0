"""`crossalert cap validate|convert`, run as a crisis centre's integrator would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from schemas import parse_cap_json, parse_cap_xml

CORPUS = Path(__file__).parent / "cap_corpus"
CROSSALERT = [sys.executable, "-c", "from services.cli import main; main()"]


def crossalert(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CROSSALERT, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_validate_accepts_valid_documents_with_exit_0() -> None:
    files = sorted((CORPUS / "valid").glob("*.xml"))

    result = crossalert("cap", "validate", *files)

    assert result.returncode == 0, result.stdout + result.stderr
    *lines, summary = result.stdout.splitlines()
    assert len(lines) == len(files)
    assert all(line.startswith("valid") for line in lines)
    assert summary == f"{len(files)} document(s): {len(files)} valid, 0 invalid"


def test_validate_reports_each_invalid_file_on_its_line_and_exits_1() -> None:
    good = CORPUS / "valid" / "meuse_flood_cancel.xml"
    bad = CORPUS / "invalid" / "polygon_not_closed.xml"
    missing = CORPUS / "invalid" / "no-such-file.xml"

    result = crossalert("cap", "validate", good, bad, missing)

    assert result.returncode == 1
    *lines, summary = result.stdout.splitlines()
    assert len(lines) == 3
    assert summary == "3 document(s): 1 valid, 2 invalid"
    assert lines[0].startswith("valid")
    assert lines[1].startswith("INVALID") and "info[0].area[0].polygon[0]" in lines[1]
    assert lines[2].startswith("INVALID") and "cannot read" in lines[2]
    assert "Traceback" not in result.stderr


def test_convert_xml_to_json_and_back(tmp_path: Path) -> None:
    source = CORPUS / "valid" / "meuse_flood_multilingual.xml"

    as_json = crossalert("cap", "convert", "--to", "json", source)
    assert as_json.returncode == 0, as_json.stderr
    json_file = tmp_path / "alert.json"
    json_file.write_text(as_json.stdout, encoding="utf-8")
    as_xml = crossalert("cap", "convert", "--to", "xml", json_file)
    assert as_xml.returncode == 0, as_xml.stderr

    original = parse_cap_xml(source.read_bytes())
    assert json.loads(as_json.stdout)["identifier"] == original.identifier
    assert parse_cap_json(as_json.stdout) == original
    assert parse_cap_xml(as_xml.stdout.encode()) == original


def test_convert_refuses_an_invalid_document_with_exit_1() -> None:
    result = crossalert("cap", "convert", "--to", "json", CORPUS / "invalid" / "billion_laughs.xml")

    assert result.returncode == 1
    assert "DOCTYPE" in result.stderr
    assert result.stdout == ""
