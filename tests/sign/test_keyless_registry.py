"""Keyless signatures served by a real registry (Debian's docker-registry), found by tag
(``.sig``/``.att``), through the referrers tag fallback and through the referrers API; and
where keyless trust is used: SBOMs and scans from attestations, the base trust file, the
policy's signature rule and the admission webhook.

The real public-good vectors are pushed with hullcheck's registry client; images built by the
test are signed by a test-made Sigstore instance (``tests/fixtures/sigstore/mint.py``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hullcheck import pipeline
from hullcheck.base.model import TrustState
from hullcheck.cli.main import main
from hullcheck.errors import NotFound
from hullcheck.image.writer import BuiltImage, push
from hullcheck.pipeline.admission import Admission
from hullcheck.policy import loads
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.server.admission import controller_for
from hullcheck.server.admission_http import serve
from hullcheck.sign.store import open_target
from tests.fixtures.base.images import app_on, new_base, old_base
from tests.fixtures.images import build, write
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.sigstore import vectors as v
from tests.fixtures.sigstore.mint import GITHUB_ISSUER, MiniSigstore, attach
from tests.server.wire import answer, debian_image, pod, post, review

ROOT = ["--trusted-root", str(v.PRODUCTION_ROOT)]
MIRROR = "https://github.com/example/mirror/.github/workflows/build.yml@refs/heads/main"
RELEASE = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1"
OS = {"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n",
      "lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"
                              "P:algo-svnlook\nV:1.0.0\nA:x86_64\n\n"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    attempts = v.guard_network(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HULLCHECK_OFFLINE", "1")
    yield
    assert attempts == []


@pytest.fixture(scope="module")
def test_sigstore(tmp_path_factory: pytest.TempPathFactory) -> tuple[MiniSigstore, Path]:
    instance = MiniSigstore()
    return instance, instance.write_trusted_root(tmp_path_factory.mktemp("tsig") / "root.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def who(identity: str, issuer: str) -> list[str]:
    return ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]


# -- the real vectors, from a registry ---------------------------------------------------------


def test_a_cosign_save_layout_pushed_to_a_registry(registry: RunningRegistry,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{registry.host}/keyless/slsa"
    with RegistryClient() as client:
        v.push_layout(client, v.SLSA_LAYOUT, repo, tag="v1")
    code, out, err = run(capsys, "verify-attestation", f"{repo}:v1", *who(v.SLSA_IDENTITY, v.GITHUB),
                         "--type", "slsaprovenance02", *ROOT, "-o", "json")
    assert code == 0, err
    (att,) = json.loads(out)
    assert att["digest"] == v.SLSA_DIGEST
    assert att["source"] == f"tag {v.SLSA_DIGEST.replace(':', '-')}.att"
    assert att["signer"]["identity"] == v.SLSA_IDENTITY
    code, _, err = run(capsys, "verify-attestation", f"{repo}:v1",
                       *who(v.SLSA_IDENTITY.replace("v2.1.0", "v2.0.0"), v.GITHUB), *ROOT)
    assert code == 1 and "certificate identity is" in err.splitlines()[0], err
    # The layout holds an attestation only: there is no image signature.
    code, _, err = run(capsys, "verify", f"{repo}:v1", *who(v.SLSA_IDENTITY, v.GITHUB), *ROOT)
    assert code == 1 and f"no signatures found for {repo}:v1" in err, err


def test_a_bundle_referrer_through_the_tag_fallback(registry: RunningRegistry,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """docker-registry 2.8 has no referrers API: the referrer is listed by the index tagged
    ``sha256-<hex>`` of the subject (go-containerregistry's empty image, rebuilt)."""
    repo = f"{registry.host}/keyless/fallback"
    with RegistryClient() as client:
        assert v.push_empty_image(client, repo, tag="v1") == v.COSIGN_DIGEST
        referrer = v.push_bundle(client, repo, v.COSIGN_DIGEST, v.COSIGN_BUNDLE.read_bytes(),
                                 "https://cosign.sigstore.dev/attestation/v1")
        fallback = client.get_manifest(parse_reference(f"{repo}:{v.COSIGN_DIGEST.replace(':', '-')}"))
        assert referrer in fallback.data.decode()
    code, out, err = run(capsys, "verify-attestation", f"{repo}:v1", *who(v.CODY, v.GITHUB_OAUTH),
                         *ROOT, "-o", "json")
    assert code == 0, err
    (att,) = json.loads(out)
    assert att["source"] == f"referrer {referrer}" and att["digest"] == v.COSIGN_DIGEST
    code, _, err = run(capsys, "verify-attestation", f"{repo}:v1",
                       *who("someone@example.com", v.GITHUB_OAUTH), *ROOT)
    assert code == 1 and "certificate identity is cody@soyland.com, not someone@example.com" in err


def test_a_bundle_referrer_through_the_referrers_api(registry: RunningRegistry,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    front = v.ReferrersFront(upstream=registry.url)
    host = front.start()
    try:
        repo = f"{host}/keyless/api"
        with RegistryClient() as client:
            v.push_empty_image(client, repo, tag="v1")
            referrer = v.push_bundle(client, repo, v.COSIGN_DIGEST, v.COSIGN_BUNDLE.read_bytes(),
                                     "https://cosign.sigstore.dev/attestation/v1")
            with pytest.raises(NotFound):  # the API confirmed the subject: no fallback tag
                client.get_manifest(parse_reference(f"{repo}:{v.COSIGN_DIGEST.replace(':', '-')}"))
        code, out, err = run(capsys, "verify-attestation", f"{repo}:v1",
                             *who(v.CODY, v.GITHUB_OAUTH), *ROOT, "-o", "json")
        assert code == 0, err
        assert json.loads(out)[0]["source"] == f"referrer {referrer}"
        assert front.listed and all("/referrers/" + v.COSIGN_DIGEST in p for p in front.listed)
    finally:
        front.stop()


# -- images the test builds, signed by the test's own Sigstore -----------------------------------


def test_a_keyless_signature_of_an_image_in_a_registry(
        registry: RunningRegistry, test_sigstore: tuple[MiniSigstore, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    instance, root = test_sigstore
    ref = f"{registry.host}/keyless/app:1"
    with RegistryClient() as client:
        digest = push(client, parse_reference(ref), build(OS))
        target = open_target(ref, client=client)
        attach(target, instance.sign(target.docker_reference, digest, RELEASE,
                                     github={"repository": "example/app", "ref": "refs/tags/v1"}))
    code, out, err = run(capsys, "verify", ref, "--certificate-identity-regexp",
                         "^https://github.com/example/app/", "--certificate-oidc-issuer",
                         GITHUB_ISSUER, "--certificate-github-workflow-ref", "refs/tags/v1",
                         "--trusted-root", str(root), "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["digest"] == digest and doc["signer"]["identity"] == RELEASE
    code, _, err = run(capsys, "verify", ref, *who(MIRROR, GITHUB_ISSUER), "--trusted-root",
                       str(root))
    assert code == 1 and f"certificate identity is {RELEASE}, not {MIRROR}" in err, err
    # The public-good root does not know this instance's CA or log.
    code, _, err = run(capsys, "verify", ref, *who(RELEASE, GITHUB_ISSUER), *ROOT)
    assert code == 1 and "the SET is from a transparency log not in the trusted root" in err, err


def test_sbom_and_scan_from_a_keyless_attestation(
        tmp_path: Path, test_sigstore: tuple[MiniSigstore, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    instance, root = test_sigstore
    image = write(build(OS), tmp_path)
    code, direct, err = run(capsys, "sbom", image, "-o", "cyclonedx-json")
    assert code == 0, err
    target = open_target(image)
    attach(target, instance.attest(target.docker_reference, target.digest,
                                   "https://cyclonedx.org/bom", json.loads(direct), RELEASE))
    keyless = [*who(RELEASE, GITHUB_ISSUER), "--trusted-root", str(root)]
    code, out, err = run(capsys, "sbom", image, "--from-attestation", *keyless, "-o", "json")
    assert code == 0, err
    assert {(p["name"], p["version"]) for p in json.loads(out)["packages"]} == {
        ("musl", "1.2.4-r2"), ("algo-svnlook", "1.0.0")}
    db = tmp_path / "vuln.db"
    advisories = Path(__file__).parent.parent / "fixtures" / "advisories" / "osv" / "malicious"
    assert main(["db", "--db", str(db), "import", str(advisories)]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "scan", image, "--from-attestation", *keyless, "--db", str(db),
                         "-o", "json")
    assert code in (0, 1), err
    assert json.loads(out)["source"]["manifestDigest"] == target.digest
    code, _, err = run(capsys, "sbom", image, "--from-attestation",
                       *who(MIRROR, GITHUB_ISSUER), "--trusted-root", str(root))
    assert code == 1 and "no CycloneDX or SPDX attestation verifies keylessly by " + MIRROR in err
    code, _, err = run(capsys, "sbom", image, *who(MIRROR, GITHUB_ISSUER))
    assert code == 2 and "only used with --from-attestation" in err


# -- base trust: keyless signers per registry glob ---------------------------------------------


@dataclass(frozen=True)
class Mirror:
    repo: str
    app: str
    catalog: Path
    tmp: Path
    root: Path
    old: BuiltImage


@pytest.fixture(scope="module")
def mirror(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory,
           test_sigstore: tuple[MiniSigstore, Path]) -> Mirror:
    """Debian bases on our mirror, signed by the mirror's workflow; an app built on one."""
    instance, root = test_sigstore
    tmp = tmp_path_factory.mktemp("mirror")
    repo = f"{registry.host}/mirror/debian"
    old = old_base()
    with RegistryClient() as client:
        push(client, parse_reference(f"{repo}:12"), old)
        target = open_target(f"registry:{repo}@{old.digest}", client=client)
        attach(target, instance.sign(target.docker_reference, old.digest, MIRROR))
        push(client, parse_reference(f"{registry.host}/mirror/app:1"), app_on(old))
        push(client, parse_reference(f"{repo}:12"), new_base())  # the tag moves on
    catalog = tmp / "catalog.json"
    pipeline.add_bases([f"{repo}@{old.digest}"], catalog_file=catalog)
    return Mirror(repo=repo, app=f"{registry.host}/mirror/app:1", catalog=catalog, tmp=tmp,
                  root=root, old=old)


def _base_verdict(m: Mirror, identities: str) -> Any:
    trust = m.tmp / "trust.yaml"
    trust.write_text(f"trustedRoot: {m.root}\nsources:\n  - name: {m.repo.split('/')[0]}/mirror/**\n"
                     f"    identities:\n{identities}")
    req = pipeline.BaseRequest(image=m.app, catalog=m.catalog, trust=trust, advice=False,
                               today=date(2024, 6, 1))
    verdict = pipeline.assess_base(req).trust
    assert verdict is not None
    return verdict


def test_a_base_signed_by_the_mirror_workflow_is_trusted(mirror: Mirror) -> None:
    verdict = _base_verdict(mirror, f"      - identity: {MIRROR}\n        issuer: {GITHUB_ISSUER}\n")
    assert verdict.state is TrustState.TRUSTED, verdict.reason
    assert verdict.signers == (f"{MIRROR} (issuer {GITHUB_ISSUER})",)
    regexp = _base_verdict(mirror, "      - identityRegexp: ^https://github.com/example/mirror/\n"
                                   "        issuerRegexp: ^https://token\\.actions\\.\n")
    assert regexp.state is TrustState.TRUSTED, regexp.reason


def test_a_base_signed_by_another_identity_is_untrusted(mirror: Mirror) -> None:
    verdict = _base_verdict(mirror, f"      - identity: {RELEASE}\n        issuer: {GITHUB_ISSUER}\n")
    assert verdict.state is TrustState.UNTRUSTED
    assert verdict.reason.startswith(f"no signature by the identities of {mirror.repo.split('/')[0]}"
                                     "/mirror/** verified")
    assert f"certificate identity is {MIRROR}, not {RELEASE}" in verdict.reason


def test_trust_file_identities_are_checked(tmp_path: Path) -> None:
    from hullcheck.base import trust
    from hullcheck.errors import FormatError

    path = tmp_path / "trust.yaml"
    for text, reason in (
        ("sources:\n  - name: a\n    identities:\n      - identity: x\n",
         "sources[0]: keyless verification needs identities[0].issuer or identities[0].issuerRegexp"),
        ("sources:\n  - name: a\n    identities:\n      - identity: x\n        issuer: y\n"
         "        subject: z\n", "unknown keys subject"),
        ("sources:\n  - name: a\n    identities:\n      - identityRegexp: '('\n        issuer: y\n",
         "not a regular expression"),
        ("trustedRoot: [a]\nsources: []\n", "'trustedRoot' must be the path"),
    ):
        path.write_text(text)
        with pytest.raises(FormatError, match=reason.replace("[", r"\[").replace("]", r"\]")):
            trust.load(path)


# -- the policy's signature rule and the admission webhook -------------------------------------

POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {{name: keyless}}
rules:
  - id: signed
    type: signatures
    require: {require}
    trustedRoot: {root}
    identities:
{identities}
"""


def _identity(identity: str) -> str:
    return f"      - identity: {identity}\n        issuer: {GITHUB_ISSUER}\n"


@pytest.fixture(scope="module")
def released(registry: RunningRegistry, test_sigstore: tuple[MiniSigstore, Path]) -> dict[str, str]:
    """Two images on the registry: one signed by the release workflow, one unsigned."""
    instance, _ = test_sigstore
    out = {}
    with RegistryClient() as client:
        for name, signed in (("signed", True), ("unsigned", False)):
            ref = f"{registry.host}/keyless/policy-{name}:v1"
            digest = push(client, parse_reference(ref), debian_image(("bash", "5.2"), marker=name))
            if signed:
                target = open_target(ref, client=client)
                attach(target, instance.sign(target.docker_reference, digest, RELEASE))
            out[name] = ref
    return out


@pytest.mark.parametrize(("require", "identities", "passes", "message"), [
    ("any", [RELEASE, MIRROR], True, ""),
    ("all", [RELEASE, MIRROR], False, f"no verified signature by {MIRROR} (issuer {GITHUB_ISSUER})"),
    ("any", [MIRROR], False, f"not signed by any required identity ({MIRROR} (issuer "),
])
def test_the_policy_signature_rule(require: str, identities: list[str], passes: bool, message: str,
                                   released: dict[str, str], test_sigstore: tuple[MiniSigstore, Path],
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(require=require, root=test_sigstore[1],
                                    identities="".join(_identity(i) for i in identities)))
    code, out, err = run(capsys, "policy", "check", released["signed"], "--policy", str(policy),
                         "-o", "json")
    assert code == (0 if passes else 1), err
    assert message in out


def _tls(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyless-webhook.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
                "127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return tmp / "tls.crt", tmp / "tls.key"


def test_the_admission_webhook_verifies_keyless_signatures(
        released: dict[str, str], test_sigstore: tuple[MiniSigstore, Path], tmp_path: Path) -> None:
    cert, key = _tls(tmp_path)
    policy = loads(POLICY.format(require="any", root=test_sigstore[1],
                                 identities=_identity(RELEASE)), name="cluster.yaml")
    with RegistryClient() as client:
        server = serve(controller_for(Admission(policy, client=client)), host="127.0.0.1", port=0,
                       cert=cert, key=key)
        try:
            url = f"https://127.0.0.1:{server.port}/validate"
            tls = (cert, key, cert)
            allowed = answer(post(url, tls, review(pod(released["signed"]), uid="u1")), "u1")
            assert allowed["allowed"] is True, allowed
            denied = answer(post(url, tls, review(pod(released["unsigned"]), uid="u2")), "u2")
            assert denied["allowed"] is False
            assert (f"signed: not signed by any required identity ({RELEASE} (issuer "
                    f"{GITHUB_ISSUER}))") in denied["status"]["message"]
        finally:
            server.shutdown()


@pytest.mark.parametrize("kind", ["message signature", "sign/v1 statement"])
def test_a_keyless_bundle_referrer_signing_an_image(
        kind: str, registry: RunningRegistry, test_sigstore: tuple[MiniSigstore, Path],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """cosign 3's image signature (a DSSE statement with predicate sign/v1), or a bundle whose
    message signature signs the manifest digest, attached as a referrer of a test image."""
    instance, root = test_sigstore
    ref = f"{registry.host}/keyless/bundle-{kind.split(maxsplit=1)[0]}:1"
    with RegistryClient() as client:
        digest = push(client, parse_reference(ref), build({**OS, "marker": kind}))
        if kind == "message signature":
            bundle = instance.bundle_message(digest, RELEASE)
        else:
            bundle = instance.bundle_dsse(ref.rsplit(":", 1)[0], digest,
                                          "https://sigstore.dev/cosign/sign/v1", {}, RELEASE)
        v.push_bundle(client, ref.rsplit(":", 1)[0], digest, bundle,
                      "https://sigstore.dev/cosign/sign/v1")
    code, out, err = run(capsys, "verify", ref, *who(RELEASE, GITHUB_ISSUER), "--trusted-root",
                         str(root), "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "sigstore-bundle" and doc["digest"] == digest
    assert doc["critical"]["type"] == ("sigstore message signature" if kind == "message signature"
                                       else "https://sigstore.dev/cosign/sign/v1")
    # The same bundle, as a file, for another digest: refused, naming the digest it signs.
    (tmp_path / "b.json").write_bytes(bundle)
    code, _, err = run(capsys, "verify", "--bundle", str(tmp_path / "b.json"), "--digest",
                       v.A_DIGEST, *who(RELEASE, GITHUB_ISSUER), "--trusted-root", str(root))
    expected = ("digest mismatch, message signature is for " if kind == "message signature"
                else "digest mismatch, the statement is about ") + digest
    assert code == 1 and expected in err, err
    # verify-attestation does not take an image signature for an attestation.
    code, _, err = run(capsys, "verify-attestation", ref, *who(RELEASE, GITHUB_ISSUER),
                       "--trusted-root", str(root))
    assert code == 1, err


def test_the_policy_attestation_rule_with_identities(
        registry: RunningRegistry, test_sigstore: tuple[MiniSigstore, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Identities stand for keys: the image must be signed by one, and the attestation too."""
    instance, root = test_sigstore
    refs = {}
    with RegistryClient() as client:
        for attester in (MIRROR, RELEASE):
            ref = f"{registry.host}/keyless/attested-{attester.split('/')[4]}:v1"
            digest = push(client, parse_reference(ref), debian_image(("bash", "5.2"), marker=ref))
            target = open_target(ref, client=client)
            attach(target, instance.sign(target.docker_reference, digest, MIRROR))
            attach(target, instance.attest(target.docker_reference, digest,
                                           "https://slsa.dev/provenance/v1",
                                           {"builder": {"id": "x"}}, attester))
            refs[attester] = ref
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: p}\nrules:\n"
        "  - id: provenance\n    type: signatures\n    attestations: [https://slsa.dev/provenance/v1]\n"
        f"    trustedRoot: {root}\n    identities:\n{_identity(MIRROR)}")
    code, out, err = run(capsys, "policy", "check", refs[MIRROR], "--policy", str(policy),
                         "-o", "json")
    assert code == 0, err + out
    code, out, err = run(capsys, "policy", "check", refs[RELEASE], "--policy", str(policy),
                         "-o", "json")
    assert code == 1, err
    assert "no verified attestation of type https://slsa.dev/provenance/v1" in out
    assert "not signed by any required identity" not in out


def test_policy_identities_are_checked_with_their_line(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: p}\nrules:\n"
                      "  - id: s\n    type: signatures\n    identities:\n"
                      "      - identity: x\n        subject: y\n")
    code, _, err = run(capsys, "policy", "validate", str(policy))
    assert code == 2 and "policy.yaml:9: rules[0].identities[0].subject: unknown field" in err, err
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: p}\nrules:\n"
                      "  - id: s\n    type: signatures\n    identities:\n      - identity: x\n")
    code, _, err = run(capsys, "policy", "validate", str(policy))
    assert code == 2 and ("policy.yaml:8: keyless verification needs rules[0].identities[0].issuer "
                          "or rules[0].identities[0].issuerRegexp") in err, err
