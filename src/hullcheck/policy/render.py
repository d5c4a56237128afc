"""A Decision for people and machines: table, JSON, SARIF 2.1.0, JUnit XML.

(Kept beside the Decision it renders: ``report`` sits above ``policy`` and may import
these; they import nothing above ``policy``.)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from hullcheck import __version__
from hullcheck.policy.evaluate import Decision, Item, Violation
from hullcheck.policy.model import Action, Policy

FORMATS = ("table", "json", "sarif", "junit")
INFO_URI = "https://github.com/hullcheck/hullcheck"


def render(decision: Decision, fmt: str, policy: Policy | None = None) -> bytes:
    if fmt == "table":
        return table(decision).encode()
    if fmt == "json":
        return json.dumps(to_json(decision), indent=2, ensure_ascii=False).encode() + b"\n"
    if fmt == "sarif":
        return json.dumps(sarif(decision, policy), indent=2, ensure_ascii=False).encode() + b"\n"
    if fmt == "junit":
        return junit(decision, policy)
    raise ValueError(fmt)


def table(d: Decision) -> str:
    lines = [f"{d.image.ref}" + (f" ({d.image.digest})" if d.image.digest else ""),
             f"policy {d.policy}: {d.outcome.value.upper()}", ""]
    for v in d.violations:
        lines.append(f"  {v.action.value.upper():4}  {v.rule}: {v.message}")
        for item in v.items[:20]:
            lines.append(f"          - {item}")
        if len(v.items) > 20:
            lines.append(f"          ... and {len(v.items) - 20} more (see -o json)")
    if not d.violations:
        lines.append("  no rule violated")
    if d.waived:
        lines.append("")
        lines.append(f"waived ({len(d.waived)}):")
        for w in d.waived:
            what = f"{w.rule}: {w.item}" if w.item else w.rule
            until = f", until {w.expires}" if w.expires else ""
            lines.append(f"  {what} — {w.by}: {w.reason}{until}")
    for e in d.expired_waivers:
        lines.append("")
        lines.append(f"EXPIRED {e.waiver.describe()} at {e.waiver.where}: no longer waives"
                     + (" " + "; ".join(e.would_waive) if e.would_waive else ""))
    for note in d.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def _item_json(i: Item) -> dict[str, Any]:
    return {"kind": i.kind, "id": i.id, "detail": i.detail, "ids": list(i.ids),
            "package": i.package or None, "purl": i.purl or None}


def to_json(d: Decision) -> dict[str, Any]:
    return {
        "hullcheckDecision": 1,
        "image": {"ref": d.image.ref, "digest": d.image.digest or None},
        "policy": d.policy,
        "outcome": d.outcome.value,
        "evaluatedOn": d.evaluated_on.isoformat() if d.evaluated_on else None,
        "violations": [{"rule": v.rule, "action": v.action.value, "message": v.message,
                        "description": v.description, "items": [_item_json(i) for i in v.items]}
                       for v in d.violations],
        "waived": [{"rule": w.rule, "item": _item_json(w.item) if w.item else None, "by": w.by,
                    "reason": w.reason, "expires": w.expires.isoformat() if w.expires else None}
                   for w in d.waived],
        "expiredWaivers": [{"waiver": e.waiver.describe(), "at": str(e.waiver.where),
                            "reason": e.waiver.reason, "expired": e.waiver.expires.isoformat(),
                            "wouldWaive": list(e.would_waive)} for e in d.expired_waivers],
        "notes": list(d.notes),
    }


def _results(v: Violation, image: str) -> list[dict[str, Any]]:
    level = "error" if v.action is Action.FAIL else "warning"
    location = [{"physicalLocation": {"artifactLocation": {"uri": image}}}]
    if not v.items:
        return [{"ruleId": v.rule, "level": level, "message": {"text": v.message},
                 "locations": location}]
    return [{"ruleId": v.rule, "level": level, "message": {"text": f"{v.rule}: {item}"},
             "locations": location,
             "partialFingerprints": {"hullcheck/policy/v1": f"{v.rule}|{item.kind}|{item.id}|"
                                                           f"{item.purl}"}}
            for item in v.items]


def sarif(d: Decision, policy: Policy | None = None) -> dict[str, Any]:
    rules = policy.rules if policy is not None else ()
    described = {r.id: r.description for r in rules}
    ids = [r.id for r in rules] or list(dict.fromkeys(v.rule for v in d.violations))
    results = [r for v in d.violations for r in _results(v, d.image.ref)]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "hullcheck-policy", "version": __version__,
                                "informationUri": INFO_URI,
                                "rules": [{"id": i, "shortDescription":
                                           {"text": described.get(i) or i}} for i in ids]}},
            "results": results,
        }],
    }


def junit(d: Decision, policy: Policy | None = None) -> bytes:
    """One test case per rule: a ``failure`` for fail violations, ``system-out`` for warnings."""
    by_rule = {v.rule: v for v in d.violations}
    ids = [r.id for r in policy.rules] if policy is not None else list(by_rule)
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
