"""Every report in every format, compared with tests/golden/report (UPDATE_GOLDEN=1 rewrites
them): the outputs users and scripts read must not change when the renderers move."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hullcheck import __version__, misconfig, secrets
from hullcheck.cli.base import render as base_render
from hullcheck.cli.base import render_catalog
from hullcheck.policy.render import render as policy_render
from hullcheck.report.findings import ScanReport, render
from hullcheck.report.table import inventory_table
from tests.report import reports
from tests.sbom.support import assert_golden

FAILED = ["base is untrusted: not in the trust file", "base is 60 days behind (--max-age 7)"]


def _scan(fmt: str, scanners: tuple[str, ...] = ("vuln", "secret", "config")) -> bytes:
    return render(ScanReport(**reports.scan_report(scanners=scanners)), fmt)  # type: ignore[arg-type]


def _policy(fmt: str) -> bytes:
    decision, pol = reports.decision()
    return policy_render(decision, fmt, pol)  # type: ignore[arg-type]


CASES: dict[str, Callable[[], bytes]] = {
    "scan.txt": lambda: _scan("table"),
    "scan-vuln.txt": lambda: _scan("table", ("vuln",)),
    "scan.json": lambda: _scan("json"),
    "scan-vuln.json": lambda: _scan("json", ("vuln",)),
    "scan.sarif": lambda: _scan("sarif"),
    "scan.cdx.json": lambda: _scan("cyclonedx-json"),
    "secrets.txt": lambda: secrets.render(reports.SECRETS, "table"),
    "secrets.json": lambda: secrets.render(reports.SECRETS, "json"),
    "config.txt": lambda: misconfig.render(reports.CONFIG, "table"),
    "config.json": lambda: misconfig.render(reports.CONFIG, "json"),
    "policy.txt": lambda: _policy("table"),
    "policy.json": lambda: _policy("json"),
    "policy.sarif": lambda: _policy("sarif"),
    "policy.junit.xml": lambda: _policy("junit"),
    "base.txt": lambda: base_render(reports.assessment(), "table", FAILED),
    "base.json": lambda: base_render(reports.assessment(), "json", FAILED),
    "base-unknown.txt": lambda: base_render(reports.assessment(found=False), "table", []),
    "base-unknown.json": lambda: base_render(reports.assessment(found=False), "json", []),
    "catalog.txt": lambda: render_catalog((reports.ENTRY, reports.ENTRY_BARE), "table"),
    "catalog.json": lambda: render_catalog((reports.ENTRY, reports.ENTRY_BARE), "json"),
    "catalog-empty.txt": lambda: render_catalog((), "table"),
    "inventory.txt": lambda: inventory_table(reports.INVENTORY).encode(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    data = CASES[name]().replace(f'"version": "{__version__}"'.encode(), b'"version": "VERSION"')
    assert_golden(f"../report/{name}", data)
