"""SARIF 2.1.0 as GitHub code scanning reads it, for scans and policy decisions.

One log shape for both (:func:`_log`): a single run whose driver lists the rules, and the
results. A scan has one rule per vulnerability id, secret rule and configuration check; a
decision one per policy rule.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from hullcheck import __version__
from hullcheck.model import Layer, Severity, Visibility

if TYPE_CHECKING:
    from hullcheck.match.model import Finding
    from hullcheck.misconfig import ConfigFinding
    from hullcheck.policy import Violation
    from hullcheck.report.model import PolicyReport, ScanReport
    from hullcheck.secrets.model import SecretFinding

INFO_URI = "https://github.com/hullcheck/hullcheck"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {Severity.MALICIOUS: "error", Severity.CRITICAL: "error", Severity.HIGH: "error",
          Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.NEGLIGIBLE: "note",
          Severity.UNKNOWN: "warning"}
# GitHub's security-severity (0-10) for a severity without a CVSS score.
_SECURITY_SEVERITY = {Severity.MALICIOUS: 10.0, Severity.CRITICAL: 9.5, Severity.HIGH: 8.0,
                      Severity.MEDIUM: 5.5, Severity.LOW: 2.0, Severity.NEGLIGIBLE: 0.5,
                      Severity.UNKNOWN: 5.0}


def _log(tool: str, rules: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": tool, "version": __version__,
                                "informationUri": INFO_URI, "rules": rules}},
            "results": results,
        }],
    }


class _Rules:
    """The rules of one run, each listed once in first-seen order; results name their index."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def index(self, rule_id: str, make: Callable[[], dict[str, Any]]) -> int:
        """The index of ``rule_id``, listing ``make()`` as that rule the first time."""
        if rule_id not in self._index:
            self._index[rule_id] = len(self.rules)
            self.rules.append(make())
        return self._index[rule_id]


# -- scans -------------------------------------------------------------------------------


def scan(report: ScanReport) -> dict[str, Any]:
    """One result per (package, vulnerability), located at the package's evidence file; one
    per secret (at its file and line, with its layer); one per failed configuration check
    (with its CIS section)."""
    rules = _Rules()
    results = [_vulnerability(f, report, rules) for f in report.findings]
    name = report.inventory.source.name
    for s in report.secret_findings:
        result = _secret(s, name)
        result["ruleIndex"] = rules.index(s.rule_id, partial(_secret_rule, s))
        results.append(result)
    for c in report.config_findings:
        result = _check(c, name)
        result["ruleIndex"] = rules.index(c.id, partial(_check_rule, c))
        results.append(result)
    return _log("hullcheck", rules.rules, results)


def _security_severity(f: Finding) -> str:
    if f.severity is not Severity.MALICIOUS and f.score.score is not None:
        return f"{f.score.score:.1f}"
    return f"{_SECURITY_SEVERITY[f.severity]:.1f}"


def _vulnerability_rule(f: Finding) -> dict[str, Any]:
    malicious = f.severity is Severity.MALICIOUS
    text = f"{f.id}: malicious package" if malicious else f"{f.id}: {f.severity.value} vulnerability"
    return {
        "id": f.id,
        "name": "MaliciousPackage" if malicious else "Vulnerability",
        "shortDescription": {"text": text},
        "fullDescription": {"text": f.summary or text},
        "help": {"text": f"{text}. Aliases: {', '.join(f.aliases) or 'none'}.",
                 "markdown": f"**{f.id}** ({f.severity.value})"},
        "properties": {"security-severity": _security_severity(f),
                       "tags": ["security", "vulnerability", f.severity.value]},
    }


def _vulnerability(f: Finding, report: ScanReport, rules: _Rules) -> dict[str, Any]:
    p = f.package
    name = report.inventory.source.name
    path = (p.locations[0].path if p.locations else "").lstrip("/") or name
    fixed = ", ".join(f.fixed_versions)
    hidden = p.visibility is not Visibility.VISIBLE
    message = (f"{p.name} {p.version} ({p.type.value}) is affected by {f.id} "
               f"[{f.severity.value}]" + (f"; fixed in {fixed}" if fixed else "; no fix yet")
               + (f"; layer {p.layer}" if p.layer is not None else "")
               + ("; shipped but not visible (deleted or replaced by a later layer, still "
                  "extractable from the image)" if hidden else "")
               + (f"; severity from {f.severity_from}" if f.severity_from else ""))
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rules.index(f.id, partial(_vulnerability_rule, f)),
        "level": _LEVEL[f.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": path},
                                            "region": {"startLine": 1}},
                       "message": {"text": f"{name}: {path}"}}],
        "partialFingerprints": {"hullcheck/v1": f"{p.purl}|{f.id}"},
        "properties": {"visible": not hidden, "severityFrom": f.severity_from or None},
    }
    if f.suppressed is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.suppressed.reason}]
    return result


def _rule(rule_id: str, name: str, severity: Severity, *, short: str, full: str, help_text: str,
          tags: list[str], **extra: Any) -> dict[str, Any]:
    """A secret or configuration-check rule (no CVSS: the security-severity is the word's)."""
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": f"**{rule_id}** ({severity.value}): {help_text}"},
        "properties": {"security-severity": f"{_SECURITY_SEVERITY[severity]:.1f}",
                       "tags": ["security", *tags, severity.value], **extra},
    }


def _layer_text(layer: Layer | None) -> str:
    if layer is None:
        return ""
    return f"layer {layer.index}" + (f" ({layer.created_by})" if layer.created_by else "")


def _secret_rule(f: SecretFinding) -> dict[str, Any]:
    return _rule(
        f.rule_id, "Secret", f.severity, short=f.title,
        full=f"{f.title}: a secret stored in the image, readable by anyone who can pull it",
        help_text="Remove it from every layer (deleting it in a later layer does not remove "
                  "it from the image), rebuild, and rotate the secret.", tags=["secret"])


def _secret(f: SecretFinding, image: str) -> dict[str, Any]:
    from hullcheck.secrets.model import Confidence, Origin

    where = _layer_text(f.layer)
    message = (f"{f.title} in {f.path} line {f.line}" + (f", {where}" if where else "")
               + ("" if f.visible else
                  f"; deleted or replaced in {_layer_text(f.deleted_by) or 'a later layer'} "
                  "but still shipped in the image")
               + (f"; low confidence: {f.why_low}" if f.why_low else "")
               + f": {f.match}")
    uri = f.path.lstrip("/") if f.origin is Origin.FILE else f.path
    low = f.confidence is Confidence.LOW
    layer = f.layer
    return {
        "ruleId": f.rule_id,
        # A likely example is a note, whatever the rule's severity: shown, not alarming.
        "level": "note" if low else _LEVEL[f.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                            "region": {"startLine": max(f.line, 1)}},
                       "message": {"text": f"{image}: {f.path}" + (f" ({where})" if where else "")}}],
        "partialFingerprints": {"hullcheck/v1": "|".join(
            (f.rule_id, f.path, str(f.line), str(layer.index) if layer else ""))},
        "properties": {
            "origin": f.origin.value,
            "visible": f.visible,
            "layer": {"index": layer.index, "diffId": layer.diff_id,
                      "createdBy": layer.created_by} if layer else None,
            "deletedBy": f.deleted_by.index if f.deleted_by else None,
            "confidence": f.confidence.value,
        },
    }


def _check_rule(c: ConfigFinding) -> dict[str, Any]:
    cis: dict[str, Any] = {"cis": c.cis} if c.cis else {}
    return _rule(c.id, "ImageConfiguration", c.severity, short=c.title,
                 full=c.title + (f" (CIS Docker Benchmark {c.cis})" if c.cis else ""),
                 help_text=f"Fix: {c.remediation}", tags=["misconfiguration"], **cis)


def _check(c: ConfigFinding, image: str) -> dict[str, Any]:
    # Evidence naming a file ("/usr/bin/x (setuid, mode 4755)") locates the result there;
    # the others (config, history) point at the image.
    paths = list(dict.fromkeys(e.split(" (", 1)[0] for e in c.evidence if e.startswith("/")))
    locations = [{"physicalLocation": {"artifactLocation": {"uri": p.lstrip("/")}},
                  "message": {"text": f"{image}: {p}"}} for p in paths] or [
        {"physicalLocation": {"artifactLocation": {"uri": image}},
         "message": {"text": f"{image}: image configuration"}}]
    shown = "; ".join(c.evidence[:5]) + (f"; and {len(c.evidence) - 5} more"
                                         if len(c.evidence) > 5 else "")
    return {
        "ruleId": c.id,
        "level": _LEVEL[c.severity],
        "message": {"text": f"{c.title}" + (f": {shown}" if shown else "")
                    + f". Fix: {c.remediation}"},
        "locations": locations,
        "partialFingerprints": {"hullcheck/v1": c.id},
        "properties": {"cis": c.cis or None, "evidence": list(c.evidence)},
    }


# -- policy decisions --------------------------------------------------------------------


def _violation(v: Violation, image: str) -> list[dict[str, Any]]:
    from hullcheck.policy import Action

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


def decision(report: PolicyReport) -> dict[str, Any]:
    """One result per violated item (or per violated rule without items), at the image."""
    d = report.decision
    rules = report.policy.rules if report.policy is not None else ()
    described = {r.id: r.description for r in rules}
    ids = [r.id for r in rules] or list(dict.fromkeys(v.rule for v in d.violations))
    results = [r for v in d.violations for r in _violation(v, d.image.ref)]
    return _log("hullcheck-policy",
                [{"id": i, "shortDescription": {"text": described.get(i) or i}} for i in ids],
                results)
