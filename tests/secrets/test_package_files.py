"""Secrets in distro files, on a real Debian image: the debootstrap bookworm tree, then
`apt-get install libpython3.11-testsuite nodejs` (Debian's real .debs, installed as dpkg
does: files, status stanza, info/*.list and *.md5sums), then a user's layer.

Python's test suite ships private keys and a URL with a password; nodejs's TypeScript
declarations carry `https://abc:xyz@...` examples: 27 matches in the distro's own files.
The user's layer plants a key under /usr/lib, writes an AWS key into /etc/bash.bashrc (a
bash conffile: its MD5 is in the status stanza), replaces the test suite's keycert.pem
with a key of its own, and pip-installs a package whose tests hold a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hullcheck import pipeline
from hullcheck.cli.main import main
from hullcheck.image.writer import Entry, file
from hullcheck.model import Inventory
from hullcheck.secrets import SecretReport
from hullcheck.secrets.model import Confidence
from tests.fixtures.debootstrap import debootstrap_image, debootstrap_rootfs
from tests.fixtures.debs import append_layers, fetch, install_layer
from tests.match.support import build_fixture_db
from tests.secrets import fakes

pytestmark = pytest.mark.slow

TESTSUITE = ("libpython3.11-testsuite", "3.11.2-6+deb12u9")
NODEJS = ("nodejs", "18.20.4+dfsg-1~deb12u3")
PLANTED = "/usr/lib/x86_64-linux-gnu/acme/deploy.pem"
BASHRC = "/etc/bash.bashrc"
KEYCERT = "/usr/lib/python3.11/test/keycert.pem"
PIP_TESTS = "/usr/local/lib/python3.11/dist-packages/acme/tests/test_client.py"
# What the user's layer holds (path, rule), and the confidence each match deserves.
USERS = {(PLANTED, "private-key"): Confidence.HIGH,
         (BASHRC, "aws-access-key-id"): Confidence.HIGH,
         (BASHRC, "aws-secret-access-key"): Confidence.HIGH,
         (KEYCERT, "private-key"): Confidence.LOW,  # changed package file, in a test folder
         (PIP_TESTS, "github-pat"): Confidence.LOW}  # a language package's tests, no owner


def _users_layer(root: Path) -> list[Entry]:
    bashrc = (root / BASHRC.lstrip("/")).read_bytes() + (
        f"\nexport AWS_ACCESS_KEY_ID={fakes.aws_key_id(7)}\n"
        f"export AWS_SECRET_ACCESS_KEY={fakes.aws_secret(7)}\n").encode()
    token = "ghp_" + fakes.rand(fakes.ALNUM, 36, 7)
    return [file(PLANTED.lstrip("/"), fakes.pem_private_key()),
            file(BASHRC.lstrip("/"), bashrc),
            file(KEYCERT.lstrip("/"), fakes.pem_private_key()),
            file(PIP_TESTS.lstrip("/"), f"TOKEN = '{token}'\n")]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = debootstrap_rootfs()
    ref = debootstrap_image(tmp_path_factory.mktemp("distro-files"))
    status = (root / "var/lib/dpkg/status").read_bytes()
    installed = install_layer([fetch(*TESTSUITE), fetch(*NODEJS)], status)
    yield append_layers(ref, installed, _users_layer(root))


@pytest.fixture(scope="module")
def default(image: str) -> SecretReport:
    return pipeline.secrets_scan(pipeline.SecretsRequest(image=image))


@pytest.fixture(scope="module")
def everything(image: str) -> SecretReport:
    return pipeline.secrets_scan(pipeline.SecretsRequest(image=image,
                                                         include_package_files=True))


def test_only_the_users_secrets_are_reported(default: SecretReport) -> None:
    got = {(f.path, f.rule_id): f.confidence for f in default.findings}
    assert got == USERS
    # The user's keycert.pem is reported in the layer that changed it, not the package's.
    (keycert,) = [f for f in default.findings if f.path == KEYCERT]
    assert keycert.layer is not None and keycert.layer.index == 2
    assert keycert.why_low == "in a language package's tests or examples"


def test_the_distros_files_are_counted(default: SecretReport,
                                       everything: SecretReport) -> None:
    distro = [f for f in everything.findings if (f.path, f.rule_id) not in USERS
              or (f.path == KEYCERT and f.layer is not None and f.layer.index == 1)]
    assert len(distro) == 27  # 15 in the test suite, 12 in nodejs's declarations
    assert default.skipped.package_matches == 27
    assert default.skipped.package_files == len({f.path for f in distro}) == 20
    assert {f.rule_id for f in distro} == {"private-key", "url-password"}
    # Included, they keep the low confidence of examples: tests and .d.ts declarations.
    assert {f.confidence for f in distro} == {Confidence.LOW}
    assert everything.skipped.package_files == 0
    assert {(f.path, f.rule_id): f.confidence
            for f in everything.findings if f.layer and f.layer.index == 2} == USERS


def test_secrets_cli_says_what_it_left_out(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secrets", image, "-o", "table", "--fail-on", "critical"]) == 1
    out = capsys.readouterr().out
    assert "not reported: 27 matches in 20 package files as their OS package installed them" in out
    assert "--include-package-files reports them" in out
    assert main(["secrets", image, "-o", "json", "--include-package-files"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["findings"]) == 27 + len(USERS)
    assert doc["skipped"]["packageFiles"] == 0


@pytest.mark.parametrize("scanners", ["secret", "vuln,secret"])
def test_scan_leaves_the_distros_files_out_too(image: str, scanners: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = build_fixture_db(tmp_path)
    assert main(["scan", image, "--db", str(db), "--scanners", scanners, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)["secrets"]
    assert {(f["path"], f["ruleId"]) for f in doc["findings"]} == set(USERS)
    assert (doc["skipped"]["packageFiles"], doc["skipped"]["packageFileMatches"]) == (20, 27)


def test_the_databases_are_read_without_reading_licences(
        image: str, default: SecretReport, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the files' digests tell the distro's files: the Debian tree's copyright files are
    neither classified (free form) nor parsed (DEP-5), ~0.4 CPU-s on the bench's big image."""
    from hullcheck.catalog import dpkg, license

    classified: list[str] = []
    parsed: list[str] = []
    real, real_dep5 = license.classify, dpkg.copyright_licenses

    def counted(text: str) -> license.Detection:
        classified.append(text)
        return real(text)

    def counted_dep5(text: str) -> tuple[str, ...]:
        parsed.append(text)
        return real_dep5(text)

    monkeypatch.setattr(license, "classify", counted)
    monkeypatch.setattr(dpkg, "copyright_licenses", counted_dep5)
    again = pipeline.secrets_scan(pipeline.SecretsRequest(image=image))
    assert classified == [] and parsed == []
    assert again.findings == default.findings and again.skipped == default.skipped
    # Licences are still classified elsewhere in the same process (the switch is scoped).
    license.detect("Permission is hereby granted, free of charge, to any person")
    assert len(classified) == 1


def test_no_match_in_a_file_no_package_database_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean image (the debootstrap tree: no match anywhere) has nothing for the package
    databases to tell apart: they are not read at all."""
    from hullcheck import catalog

    runs: list[object] = []
    real = catalog.run

    def counted(*args: Any, **kwargs: Any) -> Inventory:
        runs.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "run", counted)
    report = pipeline.secrets_scan(pipeline.SecretsRequest(
        image=debootstrap_image(tmp_path)))
    assert runs == []
    assert report.findings == () and report.files_scanned > 1000
    assert (report.skipped.package_files, report.skipped.package_matches) == (0, 0)
