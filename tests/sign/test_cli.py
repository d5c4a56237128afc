"""The key, sign, verify, attest and verify-attestation commands: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.fixtures.images import build, write
from tests.fixtures.registry import RunningRegistry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sign"


@pytest.fixture
def keypair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    monkeypatch.delenv("HULLCHECK_PASSWORD", raising=False)
    assert main(["key", "generate", "--output-prefix", str(tmp_path / "k")]) == 0
    return tmp_path / "k.key", tmp_path / "k.pub"


def test_cli_round_trip_on_layout(
    tmp_path: Path, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    priv, pub = keypair
    image = write(
        build(
            {
                "etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n",
                "lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\n\n",
            }
        ),
        tmp_path,
    )
    assert main(["key", "generate", "--output-prefix", str(tmp_path / "k")]) == 2  # no overwrite
    assert main(["verify", image, "--key", str(pub)]) == 1
    assert main(["sign", image, "--key", str(priv), "-a", "ci=yes"]) == 0
    capsys.readouterr()
    assert main(["verify", image, "--key", str(pub), "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] is True and out["optional"] == {"ci": "yes"}
    assert out["critical"]["type"] == "cosign container image signature"
    assert main(["verify", image, "--key", str(FIXTURES / "empty-password.pub")]) == 1
    err = capsys.readouterr().err
    assert "signature invalid for key" in err

    assert main(["attest", image, "--key", str(priv), "--type", "cyclonedx", "--sbom", "-q"]) == 0
    capsys.readouterr()
    assert (
        main(["verify-attestation", image, "--key", str(pub), "--type", "cyclonedx", "-o", "predicate"])
        == 0
    )
    bom = json.loads(capsys.readouterr().out)
    assert bom["bomFormat"] == "CycloneDX"
    assert any(c.get("name") == "musl" for c in bom.get("components", []))
    assert main(["verify-attestation", image, "--key", str(pub), "--type", "spdx"]) == 1


def test_cli_wrong_password_and_missing_predicate(
    tmp_path: Path,
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    priv, _ = keypair
    image = write(build({"a": "b"}), tmp_path)
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    assert main(["sign", image, "--key", str(priv)]) == 2
    assert "wrong password" in capsys.readouterr().err
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    assert (
        main(
            [
                "attest",
                image,
                "--key",
                str(priv),
                "--type",
                "slsaprovenance",
                "--predicate",
                str(tmp_path / "missing.json"),
            ]
        )
        == 2
    )
    assert main(["attest", image, "--key", str(priv), "--type", "vuln", "--sbom"]) == 2
    assert "use it with --type cyclonedx, spdx or spdxjson" in capsys.readouterr().err


def test_cli_against_registry_with_basic_auth(
    registry_basic: RunningRegistry,
    tmp_path: Path,
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hullcheck.image.writer import push
    from hullcheck.registry.auth import Credentials
    from hullcheck.registry.client import RegistryClient
    from hullcheck.registry.reference import parse_reference

    priv, pub = keypair
    ref = parse_reference(f"{registry_basic.host}/cli/app:latest")
    creds = Credentials(username=registry_basic.username, password=registry_basic.password)
    with RegistryClient(credentials=creds) as client:
        push(client, ref, build({"x": "y"}))
    monkeypatch.setenv("HULLCHECK_REGISTRY_USERNAME", registry_basic.username)
    monkeypatch.setenv("HULLCHECK_REGISTRY_PASSWORD", registry_basic.password)
    (tmp_path / "prov.json").write_text('{"buildType": "https://example.com/build"}')
    assert main(["sign", str(ref), "--key", str(priv)]) == 0
    assert (
        main(
            [
                "attest",
                str(ref),
                "--key",
                str(priv),
                "--type",
                "slsaprovenance",
                "--predicate",
                str(tmp_path / "prov.json"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["verify", str(ref), "--key", str(pub), "-o", "table"]) == 0
    assert "Verified" in capsys.readouterr().out
    assert main(["verify-attestation", str(ref), "--key", str(pub), "-o", "json"]) == 0
    (att,) = json.loads(capsys.readouterr().out)
    assert att["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert att["predicate"] == {"buildType": "https://example.com/build"}
