"""JUnit XML for CI test reports: a policy decision as one test suite, a test case per rule."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hullcheck.report.model import PolicyReport


def decision(report: PolicyReport) -> bytes:
    """One test case per rule: a ``failure`` for fail violations, ``system-out`` for warnings.
    Without the policy, only the violated rules are known, so only they are listed."""
    from hullcheck.policy import Action

    d = report.decision
    by_rule = {v.rule: v for v in d.violations}
    ids = [r.id for r in report.policy.rules] if report.policy is not None else list(by_rule)
    suite = ET.Element("testsuite", name=f"hullcheck policy {d.policy}: {d.image.ref}",
                       tests=str(len(ids)), failures=str(len(d.failed)), errors="0", skipped="0")
    for rule_id in ids:
        case = ET.SubElement(suite, "testcase", classname=f"policy.{d.policy}", name=rule_id)
        v = by_rule.get(rule_id)
        if v is None:
            continue
        text = "\n".join([v.message, *(f"- {i}" for i in v.items)])
        if v.action is Action.FAIL:
            failure = ET.SubElement(case, "failure", message=v.message, type="policy-violation")
            failure.text = text
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {text}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True)) + b"\n"
