"""Hostile VEX documents and ignore files: one line naming the file, never a crash, a hang or
memory running out; applying many statements costs findings plus statements, not their product."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck.errors import FormatError
from hullcheck.vex import Product, Statement, apply, load_ignore, load_vex
from tests.vex.test_vex import DIGEST, finding, openvex, write

OPENVEX = openvex(
    {"vulnerability": {"name": "CVE-2018-18074", "@id": "https://nvd.nist.gov/CVE-2018-18074",
                       "aliases": ["GHSA-x84v-xcm2-53pg"]},
     "timestamp": "2024-02-01T00:00:00Z", "status": "not_affected",
     "justification": "vulnerable_code_not_in_execute_path", "impact_statement": "no redirects",
     "products": [{"@id": f"pkg:oci/app@{DIGEST}",
                   "identifiers": {"purl": f"pkg:oci/app@{DIGEST}", "cpe23": "cpe:2.3:a:x"},
                   "hashes": {"sha-256": "ab" * 32},
                   "subcomponents": [{"@id": "pkg:pypi/requests@2.19.0"}, "pkg:pypi/urllib3"]}]},
    {"vulnerability": "CVE-2019-11324", "status": "affected", "action_statement": "upgrade",
     "products": ["pkg:pypi/urllib3@1.24.1"], "subcomponents": ["pkg:pypi/urllib3"]},
)
CYCLONEDX = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "metadata": {"component": {"type": "container", "bom-ref": "img", "name": "app",
                               "purl": f"pkg:oci/app@{DIGEST}"}},
    "components": [{"type": "library", "bom-ref": "req", "name": "requests",
                    "purl": "pkg:pypi/requests@2.19.0",
                    "components": [{"bom-ref": "inner", "name": "x", "purl": "pkg:pypi/x@1"}]}],
    "vulnerabilities": [
        {"id": "CVE-2018-18074", "references": [{"id": "GHSA-x84v-xcm2-53pg"}],
         "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                      "detail": "d"},
         "affects": [{"ref": "req"}, {"ref": "urn:cdx:abc/1#img"}]},
        {"id": "CVE-2019-11324", "analysis": {}}],
}
# Values of every JSON type, and shapes that have broken readers of these documents.
ANY_VALUE: list[Any] = [None, True, 0, -1, 1.5, "", "x", "pkg:", "cpe:2.3:a:b", "urn:cdx:a/1#", [], {},
             [None], [{}], [[]], {"a": 1}, {"@id": 5}, {"purl": []}, ["pkg:pypi/a"],
             {"ref": 1}, {"state": []}, "not_affected", "resolved"]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A real OpenVEX or CycloneDX document with up to four values replaced."""
    doc: Any = copy.deepcopy(draw(st.sampled_from([OPENVEX, CYCLONEDX])))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        path = paths[draw(st.integers(0, len(paths) - 1))]
        holder: Any = doc
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = copy.deepcopy(draw(st.sampled_from(ANY_VALUE)))
    return doc


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated())
def test_mutated_documents_fail_in_one_line_naming_the_file(tmp_path: Path, doc: Any) -> None:
    path = write(tmp_path, doc)
    try:
        statements = load_vex(path)
    except FormatError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
        return
    apply([finding()], statements, today=date(2024, 1, 1), image_ids=[DIGEST])


@pytest.mark.parametrize(("statement", "message"), [
    ({"vulnerability": 5, "status": "fixed"},
     "statements[0]: vulnerability must be a string or an object, not a number"),
    ({"vulnerability": {"name": ["CVE-1"]}, "status": "fixed"},
     "statements[0]: name must be a string, not a list"),
    ({"vulnerability": {"name": "CVE-1", "aliases": [1]}, "status": "fixed"},
     "statements[0]: vulnerability: aliases[0] must be a string, not a number"),
    ({"vulnerability": {}, "status": "fixed"}, "statements[0]: vulnerability has no name"),
    ({"vulnerability": "CVE-1", "status": ["fixed"]},
     "statements[0]: status must be a string, not a list"),
    ({"vulnerability": "CVE-1", "status": "not_affected", "justification": {"a": 1}},
     "statements[0]: justification must be a string, not an object"),
    ({"vulnerability": "CVE-1", "status": "fixed", "products": "pkg:pypi/a"},
     "statements[0]: products must be a list, not a string"),
    ({"vulnerability": "CVE-1", "status": "fixed", "products": [7]},
     "statements[0]: products and subcomponents must be strings or objects, not a number"),
    ({"vulnerability": "CVE-1", "status": "fixed", "products": [{"identifiers": []}]},
     "statements[0]: identifiers must be an object, not a list"),
    ({"vulnerability": "CVE-1", "status": "fixed", "timestamp": 1700000000},
     "statements[0]: timestamp must be a string, not a number"),
])
def test_wrong_types_in_openvex_fields(tmp_path: Path, statement: dict[str, Any],
                                       message: str) -> None:
    path = write(tmp_path, openvex(statement))
    with pytest.raises(FormatError) as exc:
        load_vex(path)
    assert str(exc.value) == f"{path}: {message}"


@pytest.mark.parametrize(("vuln", "message"), [
    ({"id": 5}, "vulnerabilities[0]: id must be a string, not a number"),
    ({"id": "CVE-1", "analysis": "not_affected"},
     "vulnerabilities[0]: analysis must be an object, not a string"),
    ({"id": "CVE-1", "analysis": {"state": "wontfix"}},
     "vulnerabilities[0]: unknown analysis state 'wontfix'"),
    ({"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": 5},
     "vulnerabilities[0]: affects must be a list, not a number"),
    ({"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": ["req"]},
     "vulnerabilities[0]: affects[0] must be an object, not a string"),
    ({"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": [{"ref": ["req"]}]},
     "vulnerabilities[0]: affects[0]: ref must be a string, not a list"),
    ({"id": "CVE-1", "analysis": {"state": "resolved"}, "references": 1},
     "vulnerabilities[0]: references must be a list, not a number"),
])
def test_wrong_types_in_cyclonedx_fields(tmp_path: Path, vuln: dict[str, Any],
                                         message: str) -> None:
    path = write(tmp_path, {"bomFormat": "CycloneDX", "vulnerabilities": [vuln]})
    with pytest.raises(FormatError) as exc:
        load_vex(path)
    assert str(exc.value).startswith(f"{path}: {message}")


def test_deeply_nested_vex_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{"statements": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(FormatError, match=r": VEX document: nested more than 128 levels deep$"):
        load_vex(path)


def test_vex_and_ignore_files_are_read_under_a_cap_that_does_not_trust_stat() -> None:
    with pytest.raises(FormatError, match=r"^VEX document /dev/zero: larger than 64 MiB"):
        load_vex(Path("/dev/zero"))
    with pytest.raises(FormatError, match=r"^ignore file /dev/zero: larger than 4 MiB"):
        load_ignore(Path("/dev/zero"))


def test_alias_bomb_in_the_ignore_file_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    # a rule's id that would print as ten billion x's
    path = write(tmp_path, "\n".join([*lines, "ignore:", "  - id: *a9", "    reason: r", ""]),
                 "ignore.yaml")
    with pytest.raises(FormatError, match=r"YAML aliases expand to more than 1,000,000 nodes; "
                                          r"refused$"):
        load_ignore(path)


@pytest.mark.parametrize(("text", "message"), [
    ("ignore:\n  - id: [CVE-1]\n    reason: r\n", "ignore[0]: id must be a single value, not a list"),
    ("ignore:\n  - id: CVE-1\n    reason: {a: b}\n",
     "ignore[0]: reason must be a single value, not a mapping"),
    ("ignore: CVE-1\n", "expected a mapping with an 'ignore' list"),
    ("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 2024-02-30\n",
     "ignore[0]: expires '2024-02-30' is not a YYYY-MM-DD date"),
    ("ignore: " + "[" * 100_000 + "]" * 100_000 + "\n", "not valid YAML"),
])
def test_wrong_types_in_ignore_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text, "ignore.yaml")
    with pytest.raises(FormatError) as exc:
        load_ignore(path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_ignore_values_are_read_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "ignore:\n  - id: 1e5\n    reason: 010\n    expires:\n"
                           "  - id: GHSA-1\n    reason: r\n    expires: 2030-01-01\n",
                 "ignore.yaml")
    first, second = load_ignore(path)
    assert (first.id, first.reason, first.expires) == ("1e5", "010", None)
    assert second.expires == date(2030, 1, 1)
    assert load_ignore(write(tmp_path, "ignore:\n", "empty.yaml")) == []


# -- scale: indexed by vulnerability id ------------------------------------------------------


class CountedIds(tuple[str, ...]):
    """A statement's ids that count how often they are read."""

    reads = 0

    def __iter__(self) -> Iterator[str]:
        CountedIds.reads += 1
        return super().__iter__()


def test_300k_statements_are_read_once_not_once_per_finding() -> None:
    n = 300_000
    statements = [Statement(vulnerability=CountedIds((f"CVE-2000-{i}", f"GHSA-{i}")),
                            products=(Product(id="pkg:pypi/requests"),), status="not_affected",
                            justification=f"j{i}", source="big.json", order=i)
                  for i in range(n)]
    findings = [finding(fid=f"CVE-2000-{i * 1000}", aliases=()) for i in range(19)]
    findings.append(finding(fid="CVE-2099-1", aliases=("GHSA-77",)))  # found by an alias
    CountedIds.reads = 0
    out, notes = apply(findings, statements, today=date(2024, 1, 1))
    assert CountedIds.reads <= n  # one pass to index them, none per finding
    assert [f.suppressed.reason if f.suppressed else None for f in out] == [
        f"j{i * 1000}" for i in range(19)] + ["j77"]
    assert notes == []
