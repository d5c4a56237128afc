"""Which mark a finding gets when several statements or rules could give one, what the mark
says, the note about products that match nothing, and which documents are VEX at all. Found
open by mutation testing (``make mutate``): each test fails with a mutant of ``vex/``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.match.model import Suppression
from hullcheck.vex import apply, load_ignore, load_vex
from hullcheck.vex.model import Product, Statement
from tests.vex.test_vex import DIGEST, finding, write

TODAY = date(2024, 6, 1)


def statement(vid: str, status: str, timestamp: str, *, product: str = DIGEST,
              justification: str = "", source: str = "vex.json") -> Statement:
    return Statement(vulnerability=(vid,), products=(Product(id=product),), status=status,
                     justification=justification, timestamp=timestamp, source=source)


def mark(*statements: Statement) -> Suppression | None:
    out, _ = apply([finding()], statements, today=TODAY, image_ids=[DIGEST])
    return out[0].suppressed


def test_the_latest_statement_wins_whatever_order_the_files_were_loaded_in() -> None:
    later_affected = statement("CVE-2018-18074", "affected", "2024-03-01T00:00:00Z")
    earlier_fixed = statement("CVE-2018-18074", "fixed", "2024-01-01T00:00:00Z")
    assert mark(later_affected, earlier_fixed) is None
    assert mark(earlier_fixed, later_affected) is None
    # Equal timestamps: the one loaded last.
    assert mark(statement("CVE-2018-18074", "affected", ""),
                statement("CVE-2018-18074", "fixed", "")) is not None


def test_the_latest_statement_wins_across_the_finding_s_aliases() -> None:
    # One statement by the CVE id, one by the PYSEC alias: the later timestamp decides.
    by_id = statement("CVE-2018-18074", "affected", "2024-03-01T00:00:00Z")
    by_alias = statement("PYSEC-2018-28", "not_affected", "2024-01-01T00:00:00Z",
                         justification="component_not_present")
    assert mark(by_id, by_alias) is None
    assert mark(by_alias, by_id) is None
    newer_alias = statement("PYSEC-2018-28", "not_affected", "2024-05-01T00:00:00Z",
                            justification="component_not_present")
    assert mark(by_id, newer_alias) == Suppression(by="vex:vex.json",
                                                   reason="component_not_present")


def test_a_later_statement_about_another_product_leaves_the_earlier_one_in_force() -> None:
    other = statement("CVE-2018-18074", "affected", "2024-03-01T00:00:00Z",
                      product="sha256:" + "cd" * 32)
    ours = statement("CVE-2018-18074", "fixed", "2024-01-01T00:00:00Z", source="ours.json")
    assert mark(other, ours) == Suppression(by="vex:ours.json", reason="fixed")


def test_an_ignore_rule_s_mark_names_its_file_and_an_expiry_only_when_it_has_one(
        tmp_path: Path) -> None:
    path = write(tmp_path, "ignore:\n  - id: CVE-2018-18074\n    reason: not exposed\n"
                           "  - id: PYSEC-2018-28\n    reason: later in the file\n"
                           "    expires: 2030-01-01\n", ".hullcheckignore.yaml")
    out, notes = apply([finding()], rules=load_ignore(path), today=TODAY)
    assert out[0].suppressed == Suppression(by=f"ignore:{path}", reason="not exposed", expires="")
    assert notes == []
    path.write_text("ignore:\n  - id: PYSEC-2018-28\n    reason: until then\n"
                    "    expires: 2030-01-01\n")
    out, _ = apply([finding()], rules=load_ignore(path), today=TODAY)
    assert out[0].suppressed == Suppression(by=f"ignore:{path}", reason="until then",
                                            expires="2030-01-01")


@pytest.mark.parametrize("length, shown", [(160, 160), (161, 157)])
def test_the_note_shortens_product_names_past_160_characters(length: int, shown: int) -> None:
    name = "cpe:2.3:a:" + "x" * (length - 10)
    st = Statement(vulnerability=("CVE-1",), products=(), status="fixed", ignored=(name,))
    _, notes = apply([], [st], today=TODAY)
    (note,) = notes
    expected = name if shown == length else name[:shown] + "..."
    assert f"({expected}); those products are ignored" in note


def test_a_cyclonedx_bom_without_vulnerabilities_holds_no_statements(tmp_path: Path) -> None:
    assert load_vex(write(tmp_path, {"bomFormat": "CycloneDX", "specVersion": "1.6"})) == []
    # A vulnerabilities list without the bomFormat field is read as CycloneDX VEX too.
    (st,) = load_vex(write(tmp_path, {"vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": [{"ref": DIGEST}]}]}))
    assert st.products == (Product(id=DIGEST),)
    with pytest.raises(FormatError, match=r"neither an OpenVEX nor a CycloneDX VEX document$"):
        load_vex(write(tmp_path, {"bomFormat": "cyclonedx"}))
