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
    "scan-all-layers.txt": lambda: report.render(reports.all_layers_report(), "table"),
    "scan-all-layers.json": lambda: report.render(reports.all_layers_report(), "json"),
    "scan-all-layers.sarif": lambda: report.render(reports.all_layers_report(), "sarif"),
    "scan-all-layers.cdx.json": lambda: report.render(reports.all_layers_report(),
                                                      "cyclonedx-json"),
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


def test_the_machine_formats_meet_their_schemas() -> None:
    import json

    import jsonschema

    from tests.cli.test_scan_cli import SARIF_SCHEMA
    from tests.sbom.support import assert_valid, cyclonedx_validator

    schema = json.loads(SARIF_SCHEMA.read_text())
    sarif = jsonschema.validators.validator_for(schema)(schema)
    assert_valid(sarif, json.loads(report.render(reports.scan_report(), "sarif")))
    assert_valid(sarif, json.loads(report.render(reports.decision(), "sarif")))
    assert_valid(cyclonedx_validator(),
                 json.loads(report.render(reports.scan_report(), "cyclonedx-json")))
    assert_valid(sarif, json.loads(report.render(reports.all_layers_report(), "sarif")))
    assert_valid(cyclonedx_validator(),
                 json.loads(report.render(reports.all_layers_report(), "cyclonedx-json")))


def test_every_report_type_has_a_table_and_json_or_only_a_table() -> None:
    from hullcheck.misconfig import ConfigReport
    from hullcheck.model import Inventory
    from hullcheck.report import BaseReport, PolicyReport, ScanReport
    from hullcheck.secrets import SecretReport

    assert report.formats(ScanReport) == ("table", "json", "sarif", "cyclonedx-json")
    assert report.formats(PolicyReport) == ("table", "json", "sarif", "junit")
    for kind in (SecretReport, ConfigReport, BaseReport, BaseCatalog):
        assert report.formats(kind) == ("table", "json")
    assert report.formats(Inventory) == ("table",)  # its other formats are the SBOM's
    with pytest.raises(ValueError, match="no 'junit' format for a ScanReport"):
        report.render(reports.scan_report(), "junit")
