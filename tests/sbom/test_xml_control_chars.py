"""Control characters in image metadata still give well-formed CycloneDX XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from hullcheck.cli.main import main


def test_control_characters_in_os_release(make_image: Callable[..., str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image({"etc/os-release": 'ID=debian\nVERSION_ID=12\nPRETTY_NAME="Debian\x01 12"\n'},
                     {"srv/x": "1"})
    assert main(["sbom", ref, "-o", "cyclonedx-xml"]) == 0
    out = capsys.readouterr()[0]
    root = ET.fromstring(out)  # well-formed
    assert root.tag.endswith("bom")
    assert "Debian\ufffd 12" in out and "\x01" not in out
