"""Image configuration checks.

    Image + FileTree ─check()─► (ConfigFinding, ...)     failures only
    Image + FileTree ─run()───► ConfigReport             every check: pass / fail / n/a
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hullcheck import filetree
from hullcheck.filetree import FileTree
from hullcheck.image.model import Image
from hullcheck.misconfig.checks import CHECKS, SETID_ALLOWED, Check, setid_files
from hullcheck.model import ImageSource, Severity

FORMATS = ("table", "json")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigFinding:
    """One check's outcome, with the evidence when it failed."""

    id: str
    title: str
    severity: Severity
    cis: str
    remediation: str
    status: Status
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReport:
    source: ImageSource
    results: tuple[ConfigFinding, ...]

    @property
    def findings(self) -> tuple[ConfigFinding, ...]:
        return tuple(r for r in self.results if r.status is Status.FAIL)


def run(image: Image, tree: FileTree | None = None, *,
        setid_allowed: frozenset[str] = SETID_ALLOWED) -> ConfigReport:
    """Every check on ``image``; ``tree`` is read (headers only) when not given."""
    if tree is None:
        tree = filetree.build(image, ())
    results = []
    for c in CHECKS:
        evidence = (setid_files(image, tree, setid_allowed) if c.fn is setid_files
                    else c.fn(image, tree))
        status = (Status.NOT_APPLICABLE if evidence is None
                  else Status.FAIL if evidence else Status.PASS)
        results.append(ConfigFinding(id=c.id, title=c.title, severity=c.severity, cis=c.cis,
                                     remediation=c.remediation, status=status,
                                     evidence=evidence or ()))
    return ConfigReport(source=image.source, results=tuple(results))


def check(image: Image, tree: FileTree | None = None) -> tuple[ConfigFinding, ...]:
    """The failed checks only."""
    return run(image, tree).findings


def to_json(report: ConfigReport) -> dict[str, Any]:
    def one(r: ConfigFinding) -> dict[str, Any]:
        return {"id": r.id, "title": r.title, "severity": r.severity.value, "cis": r.cis or None,
                "status": r.status.value, "remediation": r.remediation,
                "evidence": list(r.evidence)}

    return {"source": {"name": report.source.name,
                       "manifestDigest": report.source.manifest_digest},
            "findings": [one(r) for r in report.findings],
            "checks": [{"id": r.id, "status": r.status.value} for r in report.results]}


def table(report: ConfigReport, *, width: int | None = None, max_evidence: int = 5) -> str:
    from rich.console import Console
    from rich.table import Table

    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("CHECK", "SEVERITY", "CIS", "TITLE", "EVIDENCE"):
        t.add_column(col, overflow="fold")
    for r in report.findings:
        ev = list(r.evidence[:max_evidence])
        if len(r.evidence) > max_evidence:
            ev.append(f"... and {len(r.evidence) - max_evidence} more")
        t.add_row(r.id, r.severity.value, r.cis or "-", f"{r.title}\nfix: {r.remediation}",
                  "\n".join(ev))
    buf = io.StringIO()
    console = Console(file=buf, width=width or 140, color_system=None, highlight=False)
    if report.findings:
        console.print(t)
    passed = sum(1 for r in report.results if r.status is Status.PASS)
    console.print(f"\n{report.source.name}: {len(report.findings)} failed, {passed} passed, "
                  f"{len(report.results) - len(report.findings) - passed} not applicable",
                  soft_wrap=True)
    return buf.getvalue()


def render(report: ConfigReport, fmt: str) -> bytes:
    if fmt == "table":
        return table(report).encode()
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False).encode() + b"\n"
    raise ValueError(fmt)


__all__ = ["CHECKS", "FORMATS", "SETID_ALLOWED", "Check", "ConfigFinding", "ConfigReport",
           "Severity", "Status", "check", "render", "run", "table", "to_json"]
