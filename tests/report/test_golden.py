"""Every report in every format, compared with tests/golden/report (UPDATE_GOLDEN=1 rewrites
them): the outputs users and scripts read must not change when the renderers move."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hullcheck import __version__, report
from hullcheck.report import BaseCatalog
from tests.report import reports
from tests.sbom.support import assert_golden

FAILED = ("base is untrusted: not in the trust file", "base is 60 days behind (--max-age 7)")

CASES: dict[str, Callable[[], bytes]] = {
    "scan.txt": lambda: report.render(reports.scan_report(), "table"),
    "scan-vuln.txt": lambda: report.render(reports.scan_report(scanners=("vuln",)), "table"),
    "scan.json": lambda: report.render(reports.scan_report(), "json"),
    "scan-vuln.json": lambda: report.render(reports.scan_report(scanners=("vuln",)), "json"),
    "scan.sarif": lambda: report.render(reports.scan_report(), "sarif"),
    "scan.cdx.json": lambda: report.render(reports.scan_report(), "cyclonedx-json"),
    "secrets.txt": lambda: report.render(reports.SECRETS, "table"),
    "secrets.json": lambda: report.render(reports.SECRETS, "json"),
    "config.txt": lambda: report.render(reports.CONFIG, "table"),
    "config.json": lambda: report.render(reports.CONFIG, "json"),
    "policy.txt": lambda: report.render(reports.decision(), "table"),
    "policy.json": lambda: report.render(reports.decision(), "json"),
    "policy.sarif": lambda: report.render(reports.decision(), "sarif"),
    "policy.junit.xml": lambda: report.render(reports.decision(), "junit"),
    "base.txt": lambda: report.render(reports.base(failures=FAILED), "table"),
    "base.json": lambda: report.render(reports.base(failures=FAILED), "json"),
    "base-unknown.txt": lambda: report.render(reports.base(found=False), "table"),
    "base-unknown.json": lambda: report.render(reports.base(found=False), "json"),
    "catalog.txt": lambda: report.render(reports.CATALOG, "table"),
    "catalog.json": lambda: report.render(reports.CATALOG, "json"),
    "catalog-empty.txt": lambda: report.render(BaseCatalog(entries=()), "table"),
    "inventory.txt": lambda: report.render(reports.INVENTORY, "table"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    data = CASES[name]().replace(f'"version": "{__version__}"'.encode(), b'"version": "VERSION"')
    assert_golden(f"../report/{name}", data)
