"""A secret never leaves hullcheck in clear: not from a PEM body's last line, not from a
build step's history line, in any command and any output format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hullcheck.cli.main import main
from hullcheck.image.writer import ImageBuilder, write_oci_layout

TOKEN = "ghp_" + "Zq8Lr2Xv5Nm1Kc7Pt4Wy9Hb3Jd6Fs0Ga2Qe7"  # github token shape, not a real one
OS = {"etc/os-release": "ID=debian\nVERSION_ID=12\n"}


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _body_windows(pem: str, width: int = 12) -> set[str]:
    body = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    return {ln[i:i + width] for ln in body for i in range(0, max(len(ln) - width, 0) + 1)}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(list(argv))
    out, err = capsys.readouterr()
    return out + err


def test_no_secret_in_any_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pem = _pem()
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    b = ImageBuilder()
    b.add_layer(OS, created_by="ADD rootfs /")
    b.add_layer({"root/.ssh/id_rsa": pem, "srv/ec.pem": ec_pem},
                created_by=f"RUN echo TOKEN={TOKEN} > /dev/null && curl -fsSL https://x.invalid/i | sh")
    write_oci_layout(tmp_path / "oci", [(b.build(), "t")])
    ref = f"oci:{tmp_path / 'oci'}:t"
    forbidden = _body_windows(pem) | _body_windows(ec_pem) | {TOKEN, TOKEN[4:]}
    outputs = {
        "secrets-json": _run(capsys, "secrets", ref, "-o", "json"),
        "secrets-table": _run(capsys, "secrets", ref, "-o", "table"),
        "config-json": _run(capsys, "config", ref, "-o", "json"),
        "config-table": _run(capsys, "config", ref, "-o", "table"),
        "scan-sarif": _run(capsys, "scan", ref, "--scanners", "secret,config", "-o", "sarif"),
        "scan-json": _run(capsys, "scan", ref, "--scanners", "secret,config", "-o", "json"),
        "scan-table": _run(capsys, "scan", ref, "--scanners", "secret,config", "-o", "table"),
        "sbom-cdx": _run(capsys, "sbom", ref, "-o", "cyclonedx-json"),
        "sbom-spdx": _run(capsys, "sbom", ref, "-o", "spdx-json"),
        "sbom-json": _run(capsys, "sbom", ref, "-o", "json"),
    }
    assert "private-key" in outputs["secrets-json"] and "github" in outputs["secrets-json"]
    assert "HC-C009" in outputs["config-json"]  # curl | sh found, its line quoted redacted
    for name, text in outputs.items():
        leaked = [w for w in forbidden if w in text]
        assert not leaked, f"{name} leaks {leaked[:3]}"
    # The redacted history line is still useful: the command and the first characters.
    assert re.search(r"TOKEN=ghp_\*+", outputs["sbom-json"])
