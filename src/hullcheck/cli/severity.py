"""``--severity LIST`` (Trivy's flag): which findings a report shows, by severity.

A display filter over finished reports: what it leaves out is counted in a note, never
silently dropped, and ``--fail-on`` judges only what is shown (as Trivy's ``--exit-code``
does with ``--severity``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from hullcheck.model import Severity
from hullcheck.secrets import SecretReport

if TYPE_CHECKING:  # the report rooms load after the layers' workers start (cli.secrets)
    from hullcheck.misconfig import ConfigReport
    from hullcheck.report import ScanReport

WORDS = ", ".join(s.value for s in Severity)


def severity_list(text: str) -> frozenset[Severity]:
    """``critical,high`` (any case, as Trivy writes ``CRITICAL,HIGH``) as a set."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise argparse.ArgumentTypeError(f"name at least one severity: {WORDS}")
    try:
        return frozenset(Severity.parse(w) for w in words)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_severity_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--severity", type=severity_list, metavar="LIST",
                   help=f"show only findings of these severities, comma-separated (any of: "
                        f"{WORDS}; e.g. critical,high); the others are counted in a note and "
                        "not judged by --fail-on")


def _note(hidden: int, chosen: frozenset[Severity]) -> str:
    names = ",".join(s.value for s in Severity if s in chosen)
    return (f"{hidden} finding{'' if hidden == 1 else 's'} of other severities not shown "
            f"(--severity {names})")


def scan_report(report: ScanReport, chosen: frozenset[Severity] | None) -> ScanReport:
    """``report`` showing only findings (of every scanner) of the ``chosen`` severities."""
    if chosen is None:
        return report
    findings = tuple(f for f in report.findings if f.severity in chosen)
    secrets = None if report.secrets is None else secret_report(report.secrets, chosen)
    config = None if report.config is None else config_report(report.config, chosen)
    hidden = (len(report.active) - sum(f.suppressed is None for f in findings)
              + len(report.secret_findings) - len(secrets.findings if secrets else ())
              + len(report.config_findings) - len(config.findings if config else ()))
    notes = (*report.notes, _note(hidden, chosen)) if hidden else report.notes
    return replace(report, findings=findings, secrets=secrets, config=config, notes=notes)


def secret_report(report: SecretReport, chosen: frozenset[Severity] | None) -> SecretReport:
    if chosen is None:
        return report
    return replace(report, findings=tuple(f for f in report.findings if f.severity in chosen))


def config_report(report: ConfigReport, chosen: frozenset[Severity] | None) -> ConfigReport:
    """Failed checks of other severities are left out (passed and inapplicable ones stay)."""
    if chosen is None:
        return report
    from hullcheck.misconfig import Status

    return replace(report, results=tuple(r for r in report.results
                                         if r.status is not Status.FAIL or r.severity in chosen))


def hidden_note(before: int, after: int, chosen: frozenset[Severity] | None) -> str | None:
    """The note for a secrets or config report, which hold no notes of their own."""
    if chosen is None or before == after:
        return None
    return _note(before - after, chosen)
