"""Trivy's and Grype's ignore files read as rules, stated whole: each field of each rule, why
a rule is inert, and each refusal's exact line. ``test_foreign_ignore.py`` checks what the
rules mark in a scan; these pin the reading itself (written for the survivors of
``make mutate`` over ``vex/foreign.py``: a field read wrongly there often marked the same
findings of that one image)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.vex.ignore import load_ignore
from hullcheck.vex.model import IgnoreRule


def load(tmp_path: Path, name: str, text: str) -> list[IgnoreRule]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_ignore(tmp_path / name)


def test_every_grype_field_becomes_a_condition(tmp_path: Path) -> None:
    rules = load(tmp_path, "rules.yaml", """\
ignore:
  - vulnerability: ' CVE-2020-1 '
    reason: not reachable
    fix-state: not-fixed
    match-type: exact-indirect-match
    include-aliases: true
    package:
      name: libtiff6
      version: 4.5.0-6
      type: python
      language: python
      location: /usr/lib/**
      upstream-name: tiff
  - package: {type: java-archive}
    match-type: exact-direct-match
    fix-state: wont-fix
""")
    source = str(tmp_path / "rules.yaml")
    assert rules == [
        IgnoreRule(id="CVE-2020-1", reason="not reachable", source=source, package="libtiff6",
                   version="4.5.0-6", types=("pypi",), paths=("/usr/lib/**",), upstream="tiff",
                   statuses=("not-fixed", "deferred"), via="source-package"),
        IgnoreRule(id="", reason=f"listed in {source}", source=source, types=("maven",),
                   statuses=("wont-fix",), via="direct"),
    ]


@pytest.mark.parametrize("rule, inert", [
    ("{vulnerability: CVE-1, namespace: 'nvd:cpe'}",
     "Grype rules with namespace: hullcheck cannot tell which findings they mean"),
    ("{vulnerability: CVE-1, vex-justification: inline_mitigations_already_exist}",
     "Grype rules with vex-justification: hullcheck cannot tell which findings they mean"),
    ("{package: {type: npm, language: python}}",
     "Grype rules whose package type and language disagree"),
    ("{reason: why}", "Grype rules that name nothing to match"),
    ("{package: {}}", "Grype rules that name nothing to match"),
], ids=["namespace", "vex-justification", "type-and-language", "nothing", "empty-package"])
def test_a_grype_rule_hullcheck_cannot_apply_is_inert_and_says_why(
        tmp_path: Path, rule: str, inert: str) -> None:
    (only,) = load(tmp_path, ".grype.yaml", f"ignore:\n  - {rule}\n")
    assert only.inert == inert


@pytest.mark.parametrize("package", [
    "{name: x}", "{version: '1.0'}", "{type: deb}", "{language: go}", "{location: /x}",
    "{upstream-name: x}",
])
def test_any_one_grype_condition_is_enough_for_a_rule(tmp_path: Path, package: str) -> None:
    (only,) = load(tmp_path, ".grype.yaml", f"ignore:\n  - package: {package}\n")
    assert only.inert == ""
    for other in ("fix-state: fixed", "match-type: exact-direct-match"):
        (only,) = load(tmp_path, ".grype.yaml", f"ignore:\n  - {{{other}}}\n")
        assert only.inert == ""


def test_type_and_language_naming_one_purl_type_are_one_condition(tmp_path: Path) -> None:
    (only,) = load(tmp_path, ".grype.yaml",
                   "ignore:\n  - package: {type: go-module, language: go}\n")
    assert (only.types, only.inert) == (("golang",), "")


def test_a_grype_file_is_told_apart_by_its_fields_under_any_name(tmp_path: Path) -> None:
    # Grype's own fields, or a package mapping, without hullcheck's "id".
    for rule in ("{fix-state: fixed}", "{package: {name: x}}", "{vulnerability: CVE-1}"):
        (only,) = load(tmp_path, "mine.yaml", f"ignore:\n  - {rule}\n")
        assert only.reason == f"listed in {tmp_path / 'mine.yaml'}"
    # hullcheck's own rule, with a package name and a reason, is not Grype's.
    (ours,) = load(tmp_path, "mine.yaml",
                   "ignore:\n  - {id: CVE-1, reason: r, package: pkg:pypi/x}\n")
    assert ours == IgnoreRule(id="CVE-1", reason="r", package="pkg:pypi/x",
                              source=str(tmp_path / "mine.yaml"))
    # Named for Grype (in any case): read as Grype's, so hullcheck's "id" is unknown there.
    with pytest.raises(FormatError, match=r"ignore\[0\]: unknown field\(s\) id$"):
        load(tmp_path, "My.GRYPE.yml", "ignore:\n  - {id: CVE-1, reason: r}\n")


def test_trivy_text_comment_blocks_are_the_reasons_of_the_ids_under_them(tmp_path: Path) -> None:
    rules = load(tmp_path, ".trivyignore", """\
# first line
#   second line
CVE-1
CVE-2 exp:2030-01-31 other
# a comment right after ids starts a new block
CVE-3

#no space
##

CVE-4
""")
    source = str(tmp_path / ".trivyignore")
    assert rules == [
        IgnoreRule(id="CVE-1", reason="first line second line", source=source),
        IgnoreRule(id="CVE-2", reason="first line second line", source=source,
                   expires=date(2030, 1, 31)),
        IgnoreRule(id="CVE-3", reason="a comment right after ids starts a new block",
                   source=source),
        IgnoreRule(id="CVE-4", reason=f"listed in {source}", source=source),
    ]


def test_trivy_yaml_entries_with_every_field(tmp_path: Path) -> None:
    rules = load(tmp_path, ".trivyignore.yaml", """\
vulnerabilities:
  - id: ' CVE-1 '
    statement: ' accepted '
    paths: [' usr/lib/** ', '  ']
    expired_at: 2030-01-31T10:00:00Z
    purls: [pkg:deb/debian/a, pkg:deb/debian/b]
secrets:
  - id: aws-key
""")
    source = str(tmp_path / ".trivyignore.yaml")
    first = IgnoreRule(id="CVE-1", reason="accepted", source=source, paths=("usr/lib/**",),
                       expires=date(2030, 1, 31))
    assert rules == [
        dataclasses.replace(first, package="pkg:deb/debian/a"),
        dataclasses.replace(first, package="pkg:deb/debian/b"),
        IgnoreRule(id="aws-key", reason=f"listed in {source}", source=source,
                   inert="Trivy's secrets entries: hullcheck's ignore files mark "
                         "vulnerabilities only"),
    ]


@pytest.mark.parametrize("name, text, message", [
    (".trivyignore.yaml", "vulnerabilities: {id: x}\n", "vulnerabilities must be a list"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-1\n    expired_at: 2030-02-30\n",
     "vulnerabilities[0]: expired_at '2030-02-30' is not a YYYY-MM-DD date"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: [CVE-1]\n",
     "vulnerabilities[0]: id must be a single value, not a list"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: 'CVE 1'\n",
     "vulnerabilities[0]: 'CVE 1' is not a vulnerability id"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-1\n    statement: {a: b}\n",
     "vulnerabilities[0]: statement must be a single value, not a mapping"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-1\n    paths: [[a]]\n",
     "vulnerabilities[0]: paths must be a list of strings"),
    (".trivyignore.yaml", "vulnerabilities:\n  - CVE-1\n", "vulnerabilities[0] must be a mapping"),
    (".trivyignore.yaml", "vulnerabilities:\n  - {id: CVE-1, note: x, a: 1, b: 2, c: 3, d: 4, "
     "e: 5}\n", "vulnerabilities[0]: unknown field(s) a, b, c, d, e"),
    (".trivyignore.yaml", "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\nsecrets: []\n",
     "unknown section(s) a, b, c, d, e (Trivy's ignore file has vulnerabilities, "
     "misconfigurations, secrets, licenses)"),
    (".grype.yaml", "ignore: {vulnerability: CVE-1}\n", "ignore must be a list of rules"),
    (".grype.yaml", "ignore:\n  - vulnerability: 'CVE 1'\n",
     "ignore[0]: 'CVE 1' is not a vulnerability id"),
    (".grype.yaml", "ignore:\n  - vulnerability: [CVE-1]\n",
     "ignore[0]: vulnerability must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - fix-state: [fixed]\n",
     "ignore[0]: fix-state must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - match-type: [x]\n",
     "ignore[0]: match-type must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - fix-state: " + "x" * 50 + "\n",
     "ignore[0]: fix-state '" + "x" * 40 + "' is not one of fixed, not-fixed, wont-fix, unknown"),
    (".grype.yaml", "ignore:\n  - match-type: " + "y" * 50 + "\n",
     "ignore[0]: match-type '" + "y" * 40 + "' is not one of exact-direct-match, "
     "exact-indirect-match, cpe-match"),
    (".grype.yaml", "ignore:\n  - reason: [a]\n", "ignore[0]: reason must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - package: x\n", "ignore[0]: package must be a mapping"),
    (".grype.yaml", "ignore:\n  - package: {type: [a]}\n",
     "ignore[0]: package: type must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - package: {language: [a]}\n",
     "ignore[0]: package: language must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - package: {location: [a]}\n",
     "ignore[0]: package: location must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - package: {version: [a]}\n",
     "ignore[0]: package: version must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - package: {upstream-name: [a]}\n",
     "ignore[0]: package: upstream-name must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - - a\n", "ignore[0] must be a mapping"),
])
def test_a_refusal_names_the_file_the_entry_and_the_field(
        tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(FormatError) as exc:
        load(tmp_path, name, text)
    assert str(exc.value) == f"{tmp_path / name}: {message}"


def test_a_trivy_text_refusal_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as exc:
        load(tmp_path, ".trivyignore", "CVE-1\n\nCVE-2 exp:tomorrow\n")
    assert str(exc.value) == f"{tmp_path / '.trivyignore'}:3: exp 'tomorrow' is not a YYYY-MM-DD date"
    with pytest.raises(FormatError) as exc:
        load(tmp_path, ".trivyignore", "CVE-1\n" + "C" * 257 + "\n")
    assert str(exc.value) == (f"{tmp_path / '.trivyignore'}:2: {'C' * 40!r} is not a "
                              "vulnerability id")
