"""Custom rules in CEL (``cel-python``) over the evidence as plain maps and lists.

Variables (each ``null`` when that evidence was not gathered):

    image            {ref, digest, configDigest}
    packages         [{name, version, type, purl, licenses, layer, visible}]
    vulnerabilities  [{id, aliases, package, version, purl, severity, status, fixed, kev,
                       malicious, ageDays, suppressed}]
    secrets          [{rule, severity, path, layer, visible}]
    config           [{id, severity, title}]
    signatures       [{keyFingerprint, verified}]
    attestations     [{predicateType, keyFingerprint, verified}]
    base             {name, trusted, eol, daysBehind}
    severityRank     {"critical": 5, ...}: compare severities by rank
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hullcheck.match.model import Level
from hullcheck.policy.evidence import Evidence


class CelSyntaxError(ValueError):
    pass


def _env() -> Any:
    import celpy

    return celpy.Environment()


def compile_expression(expression: str) -> Any:
    """A runnable program, or CelSyntaxError with the parser's message."""
    from celpy.celparser import CELParseError

    env = _env()
    try:
        ast = env.compile(expression)
    except CELParseError as exc:
        raise CelSyntaxError(" ".join(str(exc).split())) from None
    return env.program(ast)


def _list(items: Any, fn: Any) -> Any:
    return None if items is None else [fn(x) for x in items]


def activation(evidence: Evidence, today: date) -> dict[str, Any]:
    """The evidence as plain JSON-like values."""
    ev = evidence
    base = ev.base
    return {
        "image": {"ref": ev.image.ref, "digest": ev.image.digest,
                  "configDigest": ev.image.config_digest},
        "packages": _list(ev.packages, lambda p: {
            "name": p.name, "version": p.version, "type": p.type, "purl": p.purl,
            "licenses": list(p.licenses), "layer": p.layer, "visible": p.visible}),
        "vulnerabilities": _list(ev.vulnerabilities, lambda v: {
            "id": v.id, "aliases": list(v.aliases), "package": v.package, "version": v.version,
            "purl": v.purl, "severity": v.severity.value, "status": v.status.value,
            "fixed": list(v.fixed_versions), "kev": v.kev, "malicious": v.malicious,
            "ageDays": v.age_days(today), "suppressed": bool(v.suppressed_by)}),
        "secrets": _list(ev.secrets, lambda s: {
            "rule": s.rule, "severity": s.severity.value, "path": s.path, "layer": s.layer,
            "visible": s.visible}),
        "config": _list(ev.config, lambda c: {
            "id": c.id, "severity": c.severity.value, "title": c.title}),
        "signatures": _list(ev.signatures, lambda s: {
            "keyFingerprint": s.key_fingerprint, "verified": s.verified}),
        "attestations": _list(ev.attestations, lambda a: {
            "predicateType": a.predicate_type, "keyFingerprint": a.key_fingerprint,
            "verified": a.verified}),
        "base": None if base is None else {
            "name": base.name, "trusted": base.trusted, "eol": base.eol,
            "daysBehind": base.days_behind},
        "severityRank": {lv.value: lv.rank for lv in Level},
    }


def run(program: Any, variables: dict[str, Any]) -> bool | str:
    """True / False, or an error message (evaluation errors and non-bool results)."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    try:
        result = program.evaluate(json_to_cel(variables))
    except CELEvalError as exc:
        return f"CEL evaluation error: {_message(exc)}"
    except Exception as exc:  # cel-python raises assorted errors on odd input
        return f"CEL evaluation error: {type(exc).__name__}: {_message(exc)}"
    if isinstance(result, CELEvalError):
        return f"CEL evaluation error: {_message(result)}"
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    return f"CEL expression returned {type(result).__name__} {result!r}, not a bool"


def _message(exc: Exception) -> str:
    args = exc.args
    text = str(args[0]) if args else str(exc)
    text = text.split(" (in activation", 1)[0]  # cel-python appends the whole activation
    return text if len(text) <= 300 else text[:297] + "..."
