"""``pipeline.policy``: what ``hullcheck policy check`` gathers before it judges. A registry tag
is resolved once to its digest, so every room reads the same image; signatures and
attestations are verified with each key file the policy names, a key that verifies nothing
giving no evidence (not an error); advisory publication dates that cannot be read stay unknown,
so an age rule still counts the finding. The real registry fixture, keys made by the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from hullcheck.image.writer import push
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from tests.fixtures.images import build
from tests.fixtures.registry import RunningRegistry
from tests.match.support import dist_info

SIGNED_POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {{name: release}}
rules:
  - id: signed
    type: signatures
    require: {require}
    keys: [{{path: {a}}}, {{path: {b}}}]
    attestations: [https://cyclonedx.org/bom]
"""


def check(capsys: pytest.CaptureFixture[str], image: str, policy: Path,
          *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["policy", "check", image, "--policy", str(policy), "-o", "json", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def test_a_tag_is_resolved_once_and_each_key_file_verifies_what_it_signed(
        registry: RunningRegistry, key_files: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    a_key, a_pub, b_pub = key_files
    ref = parse_reference(f"{registry.host}/policy/signed:v1")
    with RegistryClient() as client:
        digest = push(client, ref, build({"etc/os-release": "ID=test\nVERSION_ID=1\n"}))
    assert main(["sign", str(ref), "--key", str(a_key)]) == 0
    assert main(["attest", str(ref), "--key", str(a_key), "--type", "cyclonedx", "--sbom",
                 "-q"]) == 0
    capsys.readouterr()
    policy = tmp_path / "release.yaml"

    policy.write_text(SIGNED_POLICY.format(require="any", a=a_pub, b=b_pub))
    code, doc = check(capsys, str(ref), policy)
    assert code == 0, doc
    # The tag as written, and the digest every room read.
    assert (doc["image"]["ref"], doc["image"]["digest"]) == (str(ref), digest)

    # b.pub signed nothing: no evidence for it, and "all" names it alone.
    policy.write_text(SIGNED_POLICY.format(require="all", a=a_pub, b=b_pub))
    code, doc = check(capsys, str(ref), policy)
    assert code == 1
    assert [v["message"] for v in doc["violations"]] == [f"no verified signature by {b_pub}"]

    # Another image by digest: signed by no key, attested by none.
    with RegistryClient() as client:
        other = push(client, parse_reference(f"{registry.host}/policy/other:v1"),
                     build({"etc/os-release": "ID=test\nVERSION_ID=2\n"}))
    by_digest = f"{registry.host}/policy/other@{other}"
    policy.write_text(SIGNED_POLICY.format(require="any", a=a_pub, b=b_pub))
    code, doc = check(capsys, by_digest, policy)
    assert code == 1
    assert (doc["image"]["ref"], doc["image"]["digest"]) == (by_digest, other)
    assert [v["message"] for v in doc["violations"]] == [
        f"not signed by any required key ({a_pub}, {b_pub}); "
        "no verified attestation of type https://cyclonedx.org/bom"]


def test_keys_given_by_fingerprint_alone_cannot_verify_and_say_so(
        make_image: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    image = make_image({"etc/os-release": "ID=test\n"})
    policy = tmp_path / "fp.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: fp}\nrules:\n"
                      "  - id: signed\n    type: signatures\n"
                      f"    keys: [sha256:{'ab' * 32}]\n"
                      "    attestations: [https://slsa.dev/provenance/v1]\n")
    code, doc = check(capsys, image, policy)
    assert code == 1
    (violation,) = doc["violations"]
    # Not gathered is not "unsigned": the rule fails closed and says why.
    assert violation["rule"] == "signed"
    assert violation["message"].startswith("signatures evidence was not gathered")
    assert doc["notes"] == [
        "signatures: the policy names no public key file to verify with "
        "(keys given by fingerprint only cannot verify)",
        "attestations: the policy names no public key file to verify with"]


OSV = {
    "schema_version": "1.6.0",
    "modified": "2024-01-01T00:00:00Z",
    "summary": "test advisory",
    "affected": [{"package": {"ecosystem": "PyPI", "name": "{name}"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
    "database_specific": {"severity": "HIGH"},
}


def _advisory(folder: Path, ident: str, published: str, *names: str) -> None:
    doc = dict(OSV, id=ident, published=published)
    doc["affected"] = [{"package": {"ecosystem": "PyPI", "name": n},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}
                       for n in names]
    (folder / f"{ident}.json").write_text(json.dumps(doc))


AGE_POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {name: age}
rules:
  - id: old-high
    type: vulnerabilities
    severity: high
    minAgeDays: 30
"""


def test_publication_dates_old_new_and_unreadable(make_image: Callable[..., str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "osv"
    feed.mkdir()
    today = date.today()
    _advisory(feed, "PYSEC-0000-OLD", "2001-01-01T00:00:00Z", "oldpkg", "twinpkg")
    _advisory(feed, "PYSEC-0000-NEW", f"{today.isoformat()}T00:00:00Z", "newpkg")
    _advisory(feed, "PYSEC-0000-ODD", "the day after tomorrow", "oddpkg")
    db = tmp_path / "vuln.db"
    assert main(["db", "import", "--db", str(db), "--kind", "osv", str(feed)]) == 0
    files: dict[str, str | bytes] = {"etc/os-release": "ID=test\n"}
    for name in ("oldpkg", "twinpkg", "newpkg", "oddpkg"):
        files.update(dist_info(name, "1.0"))
    capsys.readouterr()
    policy = tmp_path / "age.yaml"
    policy.write_text(AGE_POLICY)
    code, doc = check(capsys, make_image(files), policy, "--db", str(db))
    assert code == 1
    (violation,) = doc["violations"]
    found = {(i["id"], i["package"]) for i in violation["items"]}
    # Published long ago (one advisory, two packages: its date is read once), or unreadable
    # (unknown: counted, never assumed new); the one published today is too young.
    assert found == {("PYSEC-0000-OLD", "oldpkg"), ("PYSEC-0000-OLD", "twinpkg"),
                     ("PYSEC-0000-ODD", "oddpkg")}
