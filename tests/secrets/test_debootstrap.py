"""False-positive guard: a real Debian root file system holds no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck import secrets
from hullcheck.image import open_image
from tests.fixtures.debootstrap import debootstrap_image

pytestmark = pytest.mark.slow


def test_debian_minbase_has_no_secret_findings(tmp_path: Path) -> None:
    ref = debootstrap_image(tmp_path)
    report, _ = secrets.scan_image(open_image(ref))
    assert [(f.rule_id, f.path, f.line) for f in report.findings] == []
    # It really looked: thousands of text files were scanned, binaries were sniffed out.
    assert report.files_scanned > 1000 and report.bytes_scanned > 5_000_000
    assert report.skipped.binary > 1000
