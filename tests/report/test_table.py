"""The table renderer's lines that no golden file shows: a rule violated by more items than
are listed, a decision that violates nothing, and an inventory's file accounting."""

from __future__ import annotations

import dataclasses

from hullcheck import report
from hullcheck.model import Severity
from hullcheck.policy import evaluate
from hullcheck.report import PolicyReport
from tests.policy._build import TODAY, evidence, pkg, policy, vuln
from tests.report import reports


def table(rep: report.Report) -> str:
    return report.render(rep, "table").decode()


RULES = """\
  - id: no-high
    type: vulnerabilities
    severity: high
"""


def test_a_long_violation_lists_twenty_items_and_counts_the_rest() -> None:
    vulns = tuple(vuln(f"CVE-2024-{i:04d}", Severity.HIGH) for i in range(23))
    ev = evidence(packages=(pkg("openssl", "3.0"),), vulnerabilities=vulns)
    text = table(PolicyReport(decision=evaluate(ev, policy(RULES), now=TODAY)))
    listed = [line for line in text.splitlines() if line.startswith("          - ")]
    assert len(listed) == 20
    assert "CVE-2024-0000" in listed[0] and not any("CVE-2024-0020" in x for x in listed)
    assert "          ... and 3 more (see -o json)" in text.splitlines()


def test_a_decision_that_violates_nothing_says_so() -> None:
    ev = evidence(packages=(pkg("openssl", "3.0"),), vulnerabilities=())
    lines = table(PolicyReport(decision=evaluate(ev, policy(RULES), now=TODAY))).splitlines()
    assert lines[1].endswith(": PASS")
    assert "  no rule violated" in lines


def test_an_inventory_says_how_many_files_a_package_accounts_for() -> None:
    inv = dataclasses.replace(reports.INVENTORY, files_total=8, files_owned=6)
    text = table(inv)
    assert "6 of 8 files (75%) are accounted for by a package" in text
    assert "files (" not in table(dataclasses.replace(inv, files_total=0))


def test_the_one_line_summary_names_failing_rules_before_warnings() -> None:
    from hullcheck.report.table import decision_line

    rules = RULES + "  - id: tagged\n    type: cel\n    expression: \"false\"\n    action: warn\n"
    ev = evidence(packages=(pkg("openssl", "3.0"),), vulnerabilities=(vuln("CVE-1", Severity.HIGH),))
    failed = evaluate(ev, policy(rules), now=TODAY)
    assert decision_line(failed).startswith(f"{failed.image.ref}: fail: no-high: ")
    assert "tagged" not in decision_line(failed)
    warned = evaluate(evidence(packages=(), vulnerabilities=()), policy(rules), now=TODAY)
    assert decision_line(warned).startswith(f"{warned.image.ref}: warn: tagged: ")
    passed = evaluate(evidence(packages=(), vulnerabilities=()), policy(RULES), now=TODAY)
    assert decision_line(passed) == f"{passed.image.ref}: pass"
