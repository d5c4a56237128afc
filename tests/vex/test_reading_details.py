"""Details of reading VEX documents and ignore files that the older tests left open, each
found by a surviving mutant of ``make mutate`` over ``vex/``: what a wrong value is called
(a value that is not null, so its kind shows), which names are Trivy text or YAML, hashes and
BOM-Links as products, and globs over locations that start with other characters than "/"."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hullcheck.errors import FormatError
from hullcheck.model import Location
from hullcheck.vex import apply, load_ignore, load_vex
from hullcheck.vex.documents import _resolve
from hullcheck.vex.model import IgnoreRule, Product, Statement
from hullcheck.vex.products import image_ids, with_version
from tests.vex.test_vex import REQ, finding

DIGEST = "sha256:" + "ab" * 32
PURL = "pkg:npm/left-pad@1.3.0"


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(doc))
    return path


def cyclonedx(*vulns: Any, **more: Any) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "vulnerabilities": list(vulns), **more}


RESOLVED = {"id": "CVE-1", "analysis": {"state": "resolved"}}


@pytest.mark.parametrize("doc, says", [
    (cyclonedx(5), "vulnerabilities[0] must be an object, not a number"),
    (cyclonedx(components=[[]]), "a component must be an object, not a list"),
    (cyclonedx({**RESOLVED, "affects": [{"ref": PURL, "versions": ["1.3.0"]}]}),
     "vulnerabilities[0]: affects[0].versions[0] must be an object, not a string"),
    (cyclonedx({**RESOLVED, "affects": [{"ref": PURL, "versions": [{"range": 1}]}]}),
     "vulnerabilities[0]: affects[0].versions[0]: range must be a string, not a number"),
    (cyclonedx({**RESOLVED, "affects": [{"ref": PURL, "versions": [{"status": True}]}]}),
     "vulnerabilities[0]: affects[0].versions[0]: status must be a string, not a boolean"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed", "status_notes": []}]},
     "statements[0]: status_notes must be a string, not a list"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed",
                      "products": [{"hashes": {"sha-256": "ab", "sha-512": 5}}]}]},
     "statements[0]: sha-512 must be a string, not a number"),
], ids=["vulnerability", "component", "affects-version", "affects-range", "affects-status",
        "status-notes", "sha-512"])
def test_a_wrong_value_is_named_with_its_kind(tmp_path: Path, doc: Any, says: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(FormatError) as exc:
        load_vex(path)
    assert str(exc.value) == f"{path}: {says}"


def test_a_product_named_by_its_hash_matches_the_image_digest(tmp_path: Path) -> None:
    (st,) = load_vex(write(tmp_path, {"statements": [{
        "vulnerability": "CVE-1", "status": "fixed",
        "products": [{"hashes": {"sha-256": "AB" * 32}}]}]}))
    assert st.products == (Product(id=DIGEST),) and st.ignored == ()


def test_a_bom_link_s_fragment_is_all_after_its_first_hash() -> None:
    refs = {"lib#2": PURL}
    assert _resolve("urn:cdx:3e671687/1#lib%232", refs) == PURL
    assert _resolve("urn:cdx:3e671687/1#lib#2", refs) == PURL
    assert _resolve("urn:cdx:3e671687/1", refs) == ""


def test_an_oci_purl_is_never_pinned_to_a_package_version() -> None:
    assert with_version("pkg:oci/app", "1.0") == ""
    assert with_version("pkg:npm/left-pad", "1.3.0") == PURL


# -- ignore files ------------------------------------------------------------------------------


def test_trivy_text_is_read_from_a_txt_file_whatever_yaml_makes_of_it(tmp_path: Path) -> None:
    # Two YAML documents, no single one; Trivy takes each line's first word, "---" too.
    path = tmp_path / "ignored.txt"
    path.write_text("CVE-1\n---\nCVE-2\n")
    assert [r.id for r in load_ignore(path)] == ["CVE-1", "---", "CVE-2"]


def test_trivy_text_under_another_name_is_read_as_trivy_text(tmp_path: Path) -> None:
    path = tmp_path / "accepted-risks"
    path.write_text("# accepted\nCVE-1\nCVE-2\n")
    assert load_ignore(path) == [IgnoreRule(id=i, reason="accepted", source=str(path))
                                 for i in ("CVE-1", "CVE-2")]


@pytest.mark.parametrize("name", ["ignore.yaml", "ignore.yml"])
def test_a_yaml_file_of_plain_text_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("CVE-1\n")
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == f"{path}: expected a mapping with an 'ignore' list"


def test_a_hullcheck_rule_without_a_package_names_none(tmp_path: Path) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text("ignore:\n  - {id: CVE-1, reason: r}\n")
    assert load_ignore(path) == [IgnoreRule(id="CVE-1", reason="r", source=str(path))]


def test_an_id_of_256_characters_is_an_id_and_a_bad_date_is_quoted_to_40(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text("C" * 256 + "\n")
    assert [r.id for r in load_ignore(path)] == ["C" * 256]
    path.write_text("CVE-1 exp:" + "9" * 50 + "\n")
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == f"{path}:1: exp {'9' * 40!r} is not a YYYY-MM-DD date"


def test_a_grype_package_key_with_nothing_under_it_is_no_condition(tmp_path: Path) -> None:
    path = tmp_path / ".grype.yaml"
    path.write_text("ignore:\n  - vulnerability: CVE-1\n    package:\n")
    assert load_ignore(path) == [IgnoreRule(id="CVE-1", reason=f"listed in {path}",
                                            source=str(path))]


def test_a_location_glob_is_compared_without_leading_slashes_only() -> None:
    # Locations and globs lose their leading "/" only: "X" is a name's first letter.
    pkg = dataclasses.replace(REQ, locations=(Location(path="/X11/lib/requests.py"),))
    rule = IgnoreRule(id="CVE-2018-18074", reason="r", paths=("/X11/**",))
    out, _ = apply([finding(pkg)], [], [rule], today=date(2024, 1, 1))
    assert out[0].suppressed is not None


@pytest.mark.parametrize("count, listed", [
    (3, "cpe:1, cpe:2, cpe:3"),
    (5, "cpe:1, cpe:2, cpe:3 and 2 more"),
])
def test_the_note_names_three_unmatched_products_and_counts_the_rest(
        count: int, listed: str) -> None:
    st = Statement(vulnerability=("CVE-1",), products=(), status="fixed",
                   ignored=tuple(f"cpe:{n}" for n in range(1, count + 1)))
    _, notes = apply([], [st], today=date(2024, 1, 1))
    assert notes == [f"VEX: 1 statement(s) name products hullcheck cannot match to this image or "
                     f"its packages ({listed}); those products are ignored, and a statement "
                     "left with none applies to nothing"]


def test_an_image_id_gives_the_digest_after_its_last_at_sign() -> None:
    assert image_ids(["a@b@" + DIGEST, DIGEST]) == ("a@b@" + DIGEST, DIGEST)


def test_trivy_text_under_another_name_in_utf_16_is_refused_naming_the_file(tmp_path: Path) -> None:
    # YAML reads UTF-16 (its byte order mark); Trivy's text is UTF-8 only.
    path = tmp_path / "accepted-risks"
    path.write_bytes("CVE-1\n".encode("utf-16"))
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == f"{path}: not UTF-8 text"


@pytest.mark.parametrize("text, says", [
    # hullcheck's rule with a Grype field: read as hullcheck's, which has no such field.
    ("ignore:\n  - {id: CVE-1, reason: r, fix-state: fixed}\n",
     "ignore[0]: unknown field(s) fix-state"),
    # hullcheck's rule without its id: read as hullcheck's, which requires it.
    ("ignore:\n  - {reason: r}\n", "ignore[0]: 'id' and 'reason' are required"),
], ids=["grype-field", "no-id"])
def test_a_hullcheck_rule_is_not_taken_for_grype_s(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(text)
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == f"{path}: {says}"


def test_an_ignore_list_beside_trivy_sections_is_not_trivy_s(tmp_path: Path) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text("ignore:\n  - {id: CVE-1, reason: r}\nvulnerabilities: []\n")
    assert load_ignore(path) == [IgnoreRule(id="CVE-1", reason="r", source=str(path))]


def test_a_trivy_comment_keeps_its_first_letter_after_the_hash(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text("#XSS filtered upstream\nCVE-1\n")
    assert [r.reason for r in load_ignore(path)] == ["XSS filtered upstream"]


def test_an_empty_grype_rule_is_inert_and_the_next_one_applies(tmp_path: Path) -> None:
    path = tmp_path / ".grype.yaml"
    path.write_text("ignore:\n  -\n  - vulnerability: CVE-1\n")
    assert [(r.id, r.inert) for r in load_ignore(path)] == [
        ("", "Grype rules that name nothing to match"), ("CVE-1", "")]


def test_a_trivy_expiry_that_is_not_text_names_its_entry(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text("vulnerabilities:\n  - id: CVE-1\n    expired_at: [2030-01-01]\n")
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert str(exc.value) == (f"{path}: vulnerabilities[0]: expired_at must be a single value, "
                              "not a list")
