"""Secrets in an image's labels and environment never reach an SBOM, in any format; what is
not a secret stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck import sbom
from hullcheck.cli.main import main
from hullcheck.pipeline.redaction import MARKER, Redactor, sensitive_name
from tests.fixtures.images import build, write
from tests.secrets import fakes

TOKEN = "ghp_" + fakes.rand(fakes.ALNUM, 36, 11)  # github token shape, not a real one
AWS_SECRET = fakes.aws_secret(11)
AWS_KEY_ID = fakes.aws_key_id(11)
PASSWORD = "hunter2hunter"  # no rule flags it: its key's name does
FINGERPRINT = "A035C8C19219BA821ECEA86B64E628F8D684696D"  # as python images set GPG_KEY
LABELS = {
    "org.opencontainers.image.version": "1.2.3",
    "ci.github.token": TOKEN,
    "db.password": PASSWORD,
    "io.example.gpg.key": FINGERPRINT,
    "io.example.deploy-key": "${DEPLOY_KEY}",  # a placeholder, not a secret
}
ENV = ["PATH=/usr/bin:/bin", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
       f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}"]
SECRETS = (TOKEN, TOKEN[4:], AWS_SECRET, AWS_KEY_ID, PASSWORD)
ADVISORIES = Path(__file__).parent.parent / "fixtures" / "advisories"
FORMATS = ("json", "cyclonedx-json", "cyclonedx-xml", "spdx-json")


def _image(tmp_path: Path) -> str:
    layers = {"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n",
              "lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\n\n"}
    history = [{"created_by": f"ENV AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "empty_layer": True},
               {"created_by": f"LABEL ci.github.token={TOKEN}", "empty_layer": True}]
    return write(build(layers, labels=LABELS, env=ENV, history_extra=history), tmp_path)


def _sbom(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["sbom", *argv, "-q"]) == 0
    out, err = capsys.readouterr()
    return out + err


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_label_or_env_secret_in_any_sbom_format(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _sbom(capsys, _image(tmp_path), "-o", fmt)
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{fmt} leaks {leaked}"
    assert "musl" in text  # the SBOM itself is whole
    # Each redacted label says why; what is not a secret is untouched.
    for why in ("github-pat", "sensitive-name"):
        assert MARKER.format(why) in text
    assert FINGERPRINT in text and "${DEPLOY_KEY}" in text and "1.2.3" in text


@pytest.mark.parametrize("fmt", ["json", "cyclonedx-json", "spdx-json"])
def test_redacted_labels_read_back_as_markers(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _sbom(capsys, _image(tmp_path), "-o", fmt)
    labels = dict(sbom.decode(text.encode(), name="out").source.labels)
    assert labels == {**LABELS, "ci.github.token": MARKER.format("github-pat"),
                      "db.password": MARKER.format("sensitive-name")}


def test_scan_cyclonedx_output_has_the_redacted_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", str(ADVISORIES / "osv" / "malicious")]) == 0
    ref = _image(tmp_path)
    capsys.readouterr()
    assert main(["scan", ref, "--db", str(db), "-o", "cyclonedx-json", "-q"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["bomFormat"] == "CycloneDX"
    text = out + err
    assert MARKER.format("github-pat") in text
    assert not [s for s in SECRETS if s in text]


def test_labels_of_an_attested_sbom_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key_files: tuple[Path, Path, Path]
) -> None:
    """An attestation's SBOM is someone else's document: its labels pass the same rules."""
    priv, pub, _ = key_files
    ref = write(build({"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n"}), tmp_path)
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "metadata": {"component": {"type": "container", "name": "app"},
                        "properties": [{"name": "hullcheck:image:label:ci.token",
                                        "value": TOKEN}]},
           "components": []}
    (tmp_path / "bom.json").write_text(json.dumps(doc))
    assert main(["attest", ref, "--key", str(priv), "--type", "cyclonedx",
                 "--predicate", str(tmp_path / "bom.json"), "-q"]) == 0
    capsys.readouterr()
    text = _sbom(capsys, ref, "--from-attestation", str(pub), "-o", "json")
    assert json.loads(text)["source"]["labels"] == [["ci.token", MARKER.format("github-pat")]]


@pytest.mark.parametrize(("key", "sensitive"), [
    ("DB_PASSWORD", True), ("ci.token", True), ("apiKey", True), ("APIKey", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("com.example.credentials", True), ("BASIC_AUTH", True),
    ("GPG_KEY", False), ("org.example.public-key", False), ("MONKEY", False),
    ("org.opencontainers.image.authors", False), ("keycloak.url", False), ("PATH", False),
])
def test_sensitive_names(key: str, sensitive: bool) -> None:
    assert sensitive_name(key) is sensitive


def test_a_secret_in_the_key_alone_is_not_a_value_to_redact() -> None:
    redact = Redactor()
    assert redact.value("note", "plain text") == "plain text"
    assert redact.value("PASSWORD", "") == ""
    assert redact.value("url", f"https://bob:{PASSWORD}@db.example.org/") \
        == MARKER.format("url-password")
    # Redacting twice changes nothing (an attested SBOM of ours is redacted again).
    once = redact.value("ci.token", TOKEN)
    assert redact.value("ci.token", once) == once
