"""Image configuration checks.

    Image + FileTree ─check()─► (ConfigFinding, ...)     failures only
    Image + FileTree ─run()───► ConfigReport             every check: pass / fail / n/a

``report`` renders a ConfigReport (table, JSON; SARIF within a scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hullcheck import filetree
from hullcheck.filetree import FileTree
from hullcheck.image.model import Image
from hullcheck.misconfig.checks import CHECKS, SETID_ALLOWED, Check, forget, setid_files
from hullcheck.model import ImageSource, Severity


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
    try:
        for c in CHECKS:
            evidence = (setid_files(image, tree, setid_allowed) if c.fn is setid_files
                        else c.fn(image, tree))
            status = (Status.NOT_APPLICABLE if evidence is None
                      else Status.FAIL if evidence else Status.PASS)
            results.append(ConfigFinding(id=c.id, title=c.title, severity=c.severity, cis=c.cis,
                                         remediation=c.remediation, status=status,
                                         evidence=evidence or ()))
    finally:
        forget(tree)  # the walked entries are not kept with the tree
    return ConfigReport(source=image.source, results=tuple(results))


def check(image: Image, tree: FileTree | None = None) -> tuple[ConfigFinding, ...]:
    """The failed checks only."""
    return run(image, tree).findings


__all__ = ["CHECKS", "SETID_ALLOWED", "Check", "ConfigFinding", "ConfigReport", "Severity",
           "Status", "check", "run"]
