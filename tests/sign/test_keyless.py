"""Keyless (Fulcio/Rekor) verification on real public-good signatures, offline.

Each vector verifies with its identity and issuer; a wrong identity, a wrong issuer, a changed
digest and a flipped payload byte each fail with a one-line reason (exit 1), as do a
certificate used outside its validity, a trust root without the timestamp authority, and a SET
from another log. No test touches the network (``guard_network`` records any attempt).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hullcheck.cli.main import main
from hullcheck.errors import FormatError, VerificationError
from hullcheck.sign import keyless_classic, trustroot
from hullcheck.signers import IdentityPolicy
from tests.fixtures.sigstore import vectors as v

ROOT = ["--trusted-root", str(v.PRODUCTION_ROOT)]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    attempts = v.guard_network(monkeypatch)
    # sigstore-python's TUF cache and hullcheck's refresh stamp: never the user's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield
    assert attempts == []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def who(identity: str, issuer: str, *more: str) -> list[str]:
    return ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer, *more]


def one_line_failure(code: int, err: str, reason: str) -> None:
    """Exit 1 (not verified), the error on one line naming ``reason``, then the hint."""
    lines = err.strip().splitlines()
    assert code == 1, err
    assert lines[0].startswith("hullcheck: error: ") and reason in lines[0], err
    assert len(lines) == 2 and lines[1].startswith("hint: "), err
    assert "Traceback" not in err


# -- what verifies ---------------------------------------------------------------------------------


def test_classic_signature_in_a_layout_verifies(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    layout = v.layout_with_signature(tmp_path / "a")
    code, out, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH),
                         *ROOT, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["digest"] == v.A_DIGEST and doc["format"] == "simplesigning"
    assert doc["signer"] == {"identity": v.MITR, "issuer": v.GITHUB_OAUTH}
    assert doc["transparencyLog"] == {"logIndex": 11605770, "integratedTime": "2023-01-20T20:51:33Z"}
    assert doc["critical"]["image"]["docker-manifest-digest"] == v.A_DIGEST
    assert "key" not in doc


def test_classic_signature_from_split_files_verifies() -> None:
    payload, annotations = v.signature_b()
    root = trustroot.load(v.PRODUCTION_ROOT)
    ptype, signed, proof = keyless_classic.verify_layer(
        blob=payload, dsse_layer=False, annotations=annotations, root=root,
        policies=(IdentityPolicy.create({"identity": v.MITR, "issuer": v.GITHUB_OAUTH}),),
        what="B")
    assert signed == payload and ptype == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert v.B_DIGEST.encode() in signed
    assert proof.entry.log_index == 8949589
    assert proof.entry.integrated_time == dt.datetime(2022, 12, 12, 18, 48, 19, tzinfo=dt.UTC)


@pytest.mark.parametrize("image", [f"oci:{v.SLSA_LAYOUT}", f"oci:{v.SLSA_LAYOUT}@{v.SLSA_DIGEST}"])
def test_cosign_save_layout_attestation_verifies(image: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "verify-attestation", image, *who(v.SLSA_IDENTITY, v.GITHUB),
        "--certificate-github-workflow-repository", "slsa-framework/example-package",
        "--certificate-github-workflow-ref", "refs/heads/main", *ROOT, "-o", "json")
    assert code == 0, err
    (att,) = json.loads(out)
    assert att["digest"] == v.SLSA_DIGEST and att["predicateType"] == v.SLSA_PREDICATE
    assert att["statementType"] == "https://in-toto.io/Statement/v0.1"
    assert att["subject"][0]["digest"]["sha256"] == v.SLSA_DIGEST.split(":")[1]
    assert att["signer"]["githubWorkflow"]["repository"] == "slsa-framework/example-package"
    assert att["transparencyLog"]["logIndex"] == 174304112
    assert att["predicate"]["builder"]["id"] == v.SLSA_IDENTITY
    assert att["source"] == f"tag {v.SLSA_DIGEST.replace(':', '-')}.att"


def test_cosign3_signature_bundle_verifies_without_a_registry(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                         *who(v.KUBEWARDEN, v.GITHUB), *ROOT, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["digest"] == v.RS_DIGEST and doc["format"] == "sigstore-bundle"
    assert doc["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
    assert doc["signer"]["githubWorkflow"]["ref"] == "refs/tags/v1.34.0"
    assert doc["transparencyLog"]["logIndex"] == 1261105807


@pytest.mark.parametrize("root", [v.PRODUCTION_ROOT, v.NO_TSA_ROOT])
def test_attestation_bundle_verifies_with_either_root(root: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify-attestation", "--bundle", str(v.COSIGN_BUNDLE),
                         "--digest", v.COSIGN_DIGEST, *who(v.CODY, v.GITHUB_OAUTH),
                         "--trusted-root", str(root), "-o", "predicate")
    assert code == 0, err
    assert json.loads(out) == {"Data": '{"foo": "bar"}\n', "Timestamp": "2025-02-28T19:18:11Z"}


def test_regexps_are_found_anywhere_as_in_cosign(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                       "--certificate-identity-regexp", r"kubewarden-controller/\.github/",
                       "--certificate-oidc-issuer-regexp", r"^https://token\.actions\.", *ROOT)
    assert code == 0, err
    code, _, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                       "--certificate-identity-regexp", r"^kubewarden",
                       "--certificate-oidc-issuer", v.GITHUB, *ROOT)
    one_line_failure(code, err, "not regexp '^kubewarden'")


# -- what does not: wrong identity, wrong issuer, changed digest, flipped payload byte -------------


def _flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _bundle_with_flipped_payload(src: Path, dest: Path) -> Path:
    doc = json.loads(src.read_bytes())
    payload = base64.b64decode(doc["dsseEnvelope"]["payload"])
    at = payload.index(b"sha256") + 12  # a hex digit of the subject digest
    doc["dsseEnvelope"]["payload"] = base64.b64encode(_flip_byte(payload, at)).decode()
    dest.write_text(json.dumps(doc))
    return dest


def _a_args(tmp: Path, case: str) -> tuple[list[str], str]:
    if case == "flipped payload byte":
        payload, _annotations = v.signature_a()
        at = payload.index(b"sha256:") + 10
        layout = v.layout_with_signature(tmp / "a", payload=_flip_byte(payload, at))
        return ["verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH)], \
            "signature does not verify with the certificate's key"
    if case == "changed digest":  # A's signature copied onto another image
        layout = v.layout_with_signature(tmp / "a", signed=v.COSIGN_DIGEST, other=True)
        return ["verify", f"oci:{layout}:other", *who(v.MITR, v.GITHUB_OAUTH)], \
            f"digest mismatch, signature is for {v.A_DIGEST}"
    layout = v.layout_with_signature(tmp / "a")
    if case == "wrong identity":
        return ["verify", f"oci:{layout}:a", *who("someone@example.com", v.GITHUB_OAUTH)], \
            "certificate identity is mitr@redhat.com, not someone@example.com"
    return ["verify", f"oci:{layout}:a", *who(v.MITR, "https://accounts.google.com")], \
        f"certificate OIDC issuer is {v.GITHUB_OAUTH}, not https://accounts.google.com"


def _slsa_args(tmp: Path, case: str) -> tuple[list[str], str]:
    layout = v.slsa_layout(tmp / "slsa")
    base = ["verify-attestation", f"oci:{layout}"]
    if case == "flipped payload byte":
        envelope = json.loads((v.SLSA_LAYOUT / "blobs" / "sha256" / v.SLSA_ENVELOPE).read_bytes())
        payload = base64.b64decode(envelope["payload"])
        envelope["payload"] = base64.b64encode(_flip_byte(payload, payload.index(b"main"))).decode()
        v.rewrite_att_layer(layout, json.dumps(envelope).encode())
        return [*base, *who(v.SLSA_IDENTITY, v.GITHUB)], "signature does not verify"
    if case == "changed digest":  # the attestation copied onto another image
        v.add_image_with_attestation_of(layout, v.SLSA_ATT)
        return ["verify-attestation", f"oci:{layout}:other", *who(v.SLSA_IDENTITY, v.GITHUB)], \
            f"digest mismatch, the statement is about {v.SLSA_DIGEST}"
    if case == "wrong identity":
        return [*base, *who(v.SLSA_IDENTITY.replace("v2.1.0", "v2.0.0"), v.GITHUB)], \
            "certificate identity is https://github.com/slsa-framework/slsa-github-generator"
    return [*base, *who(v.SLSA_IDENTITY, v.GITHUB_OAUTH)], \
        f"certificate OIDC issuer is {v.GITHUB}, not {v.GITHUB_OAUTH}"


def _bundle_args(tmp: Path, case: str, *, attestation: bool) -> tuple[list[str], str]:
    src, digest, identity, issuer = ((v.COSIGN_BUNDLE, v.COSIGN_DIGEST, v.CODY, v.GITHUB_OAUTH)
                                     if attestation else
                                     (v.RS_BUNDLE, v.RS_DIGEST, v.KUBEWARDEN, v.GITHUB))
    command = "verify-attestation" if attestation else "verify"
    bundle = src
    reason = ""
    if case == "flipped payload byte":
        bundle = _bundle_with_flipped_payload(src, tmp / "flipped.json")
        reason = "DSSE: invalid signature"
    elif case == "changed digest":
        digest = v.A_DIGEST
        about = v.COSIGN_DIGEST if attestation else v.RS_DIGEST
        reason = f"digest mismatch, the statement is about {about}"
    elif case == "wrong identity":
        identity = identity.replace("v1.34.0", "v1.33.0") if not attestation else "someone@example.com"
        reason = f"certificate identity is {v.CODY if attestation else v.KUBEWARDEN}, not"
    else:
        issuer = "https://accounts.google.com"
        reason = "certificate OIDC issuer is"
    return [command, "--bundle", str(bundle), "--digest", digest, *who(identity, issuer)], reason


CASES = ("wrong identity", "wrong issuer", "changed digest", "flipped payload byte")


@pytest.mark.parametrize("vector", ["classic signature", "classic attestation",
                                    "signature bundle", "attestation bundle"])
@pytest.mark.parametrize("case", CASES)
def test_each_change_fails_with_a_one_line_reason(vector: str, case: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    if vector == "classic signature":
        argv, reason = _a_args(tmp_path, case)
    elif vector == "classic attestation":
        argv, reason = _slsa_args(tmp_path, case)
    else:
        argv, reason = _bundle_args(tmp_path, case, attestation=vector == "attestation bundle")
    code, _, err = run(capsys, *argv, *ROOT)
    one_line_failure(code, err, reason)


# -- trust material: validity, timestamp authority, which log -----------------------------------


def _test_log_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_id(key: ec.EllipticCurvePrivateKey) -> bytes:
    return hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def _resigned_set(annotations: dict[str, str], key: ec.EllipticCurvePrivateKey, *,
                  shift: dt.timedelta = dt.timedelta(0)) -> dict[str, str]:
    """The annotations with the SET re-signed by ``key`` (as a log of that key), its
    integrated time moved by ``shift``; the body, certificate and signature are the real ones."""
    bundle = json.loads(annotations["dev.sigstore.cosign/bundle"])
    payload = dict(bundle["Payload"])
    payload["integratedTime"] += int(shift.total_seconds())
    payload["logID"] = _key_id(key).hex()
    signature = key.sign(rfc8785.dumps(payload), ec.ECDSA(hashes.SHA256()))
    return {**annotations, "dev.sigstore.cosign/bundle": json.dumps(
        {"SignedEntryTimestamp": base64.b64encode(signature).decode(), "Payload": payload})}


def _root_with_log(path: Path, key: ec.EllipticCurvePrivateKey | None = None, *,
                   drop: str = "") -> Path:
    """The production root, plus a Rekor log of ``key`` and without the log at the URL
    ``drop``."""
    doc = json.loads(v.PRODUCTION_ROOT.read_bytes())
    doc["tlogs"] = [t for t in doc["tlogs"] if t["baseUrl"] != drop]
    if key is not None:
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        doc["tlogs"].append({
            "baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(),
                          "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2020-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(_key_id(key)).decode()}})
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("shift", "verifies"), [(dt.timedelta(0), True),
                                                 (dt.timedelta(hours=1), False)])
def test_certificate_used_outside_its_validity(shift: dt.timedelta, verifies: bool, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A's real certificate, signature and Rekor body with a SET at a time of the test's
    choosing (signed by a log key the test adds to the root): at the real time it verifies,
    an hour later the 10-minute certificate had expired."""
    key = _test_log_key()
    _payload, annotations = v.signature_a()
    layout = v.layout_with_signature(tmp_path / "a",
                                     annotations=_resigned_set(annotations, key, shift=shift))
    root = _root_with_log(tmp_path / "root.json", key)
    code, out, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH),
                         "--trusted-root", str(root), "-o", "json")
    if verifies:
        assert code == 0, err
        assert json.loads(out)["transparencyLog"]["integratedTime"] == "2023-01-20T20:51:33Z"
    else:
        one_line_failure(code, err, "certificate is valid 2023-01-20T20:51:31Z to "
                         "2023-01-20T21:01:31Z, not at the Rekor integrated time 2023-01-20T21:51:33Z")


def test_a_trust_root_without_the_timestamp_authority(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                       *who(v.KUBEWARDEN, v.GITHUB), "--trusted-root", str(v.NO_TSA_ROOT))
    one_line_failure(code, err, "no Timestamp Authorities have been provided to validate this "
                     "bundle but it contains a signed timestamp")


def test_a_set_from_another_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _payload, annotations = v.signature_a()
    # 1. The SET claims the other log of the trusted root (Rekor v2): that log's key refuses it.
    rekor_v2 = next(t for t in json.loads(v.PRODUCTION_ROOT.read_bytes())["tlogs"]
                    if "log2025-1" in t["baseUrl"])
    bundle = json.loads(annotations["dev.sigstore.cosign/bundle"])
    bundle["Payload"]["logID"] = base64.b64decode(rekor_v2["logId"]["keyId"]).hex()
    claimed = {**annotations, "dev.sigstore.cosign/bundle": json.dumps(bundle)}
    layout = v.layout_with_signature(tmp_path / "a1", annotations=claimed)
    code, _, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH), *ROOT)
    one_line_failure(code, err, "the SET does not verify with the key of "
                     "https://log2025-1.rekor.sigstore.dev (logIndex 11605770)")
    # 2. A valid SET, but by a log the trusted root does not list.
    layout = v.layout_with_signature(tmp_path / "a2",
                                     annotations=_resigned_set(annotations, _test_log_key()))
    code, _, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH), *ROOT)
    one_line_failure(code, err, "the SET is from a transparency log not in the trusted root")
    # 3. The real SET, with a root that no longer trusts the public-good Rekor v1 log.
    root = _root_with_log(tmp_path / "root.json", drop="https://rekor.sigstore.dev")
    layout = v.layout_with_signature(tmp_path / "a3")
    code, _, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH),
                       "--trusted-root", str(root))
    one_line_failure(code, err, "the SET is from a transparency log not in the trusted root")
    # The bundle's entry is refused too (sigstore-python checks its SET and checkpoint).
    code, _, err = run(capsys, "verify-attestation", "--bundle", str(v.COSIGN_BUNDLE), "--digest",
                       v.COSIGN_DIGEST, *who(v.CODY, v.GITHUB_OAUTH), "--trusted-root", str(root))
    one_line_failure(code, err, "invalid log entry")


def test_a_malformed_trusted_root_is_an_input_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for text, reason in (("not json", "not valid JSON"), ("{}", "mediaType"),
                         ('{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",'
                          '"tlogs":[],"certificateAuthorities":[],"ctlogs":[]}',
                          "names no Fulcio certificate authority")):
        root = tmp_path / "root.json"
        root.write_text(text)
        code, _, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest",
                           v.RS_DIGEST, *who(v.KUBEWARDEN, v.GITHUB), "--trusted-root", str(root))
        assert code == 2 and reason in err.splitlines()[0], err
    with pytest.raises(FormatError, match="trusted root"):
        trustroot.load(tmp_path / "missing.json")


@pytest.mark.parametrize("how", [["--offline"], []])
def test_the_default_root_is_the_shipped_one_offline(
        how: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if not how:
        monkeypatch.setenv("HULLCHECK_OFFLINE", "1")
    code, out, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                         *who(v.KUBEWARDEN, v.GITHUB), *how, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["trustedRoot"] == ("Sigstore production root (shipped with "
                                              "sigstore-python)")


class _SlowTuf:
    """A TUF repository that answers 404 to everything (after ``delay`` seconds), on 127.0.0.1."""

    def __init__(self, delay: float = 0.0) -> None:
        import http.server
        import threading
        import time

        self.requests: list[str] = []
        tuf = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                tuf.requests.append(self.path)
                time.sleep(delay)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bootstrap(self, data_home: Path) -> None:
        """Give sigstore-python's TUF client the production root.json to start from (it has
        none for an unknown URL), so it asks this repository for newer metadata."""
        import importlib.resources
        import urllib.parse

        shipped = (importlib.resources.files("sigstore") / "_store"
                   / urllib.parse.quote(trustroot.PRODUCTION_TUF, safe="") / "root.json")
        where = data_home / "sigstore-python" / "tuf" / urllib.parse.quote(self.url, safe="")
        where.mkdir(parents=True)
        (where / "root.json").write_bytes(shipped.read_bytes())

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_failed_tuf_refresh_is_a_note_and_is_not_retried_within_a_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tuf = _SlowTuf()
    try:
        tuf.bootstrap(tmp_path / "data")
        monkeypatch.setattr(trustroot, "REFRESH_URL", tuf.url)
        root = trustroot.load(None, refresh=True)
        assert tuf.requests, "the refresh asked the repository"
        assert root.source == "Sigstore production root (shipped with sigstore-python)"
        (note,) = root.notes
        assert note.startswith(f"Sigstore TUF refresh from {tuf.url} failed")
        asked = len(tuf.requests)
        again = trustroot.load(None, refresh=True)
        assert len(tuf.requests) == asked and again.notes == ()  # once a day at most
        assert again.rekor == root.rekor
    finally:
        tuf.stop()


def test_a_silent_tuf_repository_cannot_hold_verification(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tuf = _SlowTuf(delay=2.0)
    try:
        tuf.bootstrap(tmp_path / "data")
        monkeypatch.setattr(trustroot, "REFRESH_URL", tuf.url)
        monkeypatch.setattr(trustroot, "REFRESH_SECONDS", 0.2)
        root = trustroot.load(None, refresh=True)
        (note,) = root.notes
        assert "did not finish in 0s" in note and root.fulcio
    finally:
        tuf.stop()


# -- flags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "reason"), [
    (["--certificate-identity", "a", "--certificate-identity-regexp", "b",
      "--certificate-oidc-issuer", "c"],
     "give --certificate-identity or --certificate-identity-regexp, not both"),
    (["--certificate-identity", "a"],
     "keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp"),
    (["--certificate-oidc-issuer", "a"],
     "keyless verification needs --certificate-identity or --certificate-identity-regexp"),
    (["--certificate-identity-regexp", "(", "--certificate-oidc-issuer", "a"],
     "--certificate-identity-regexp '(': not a regular expression"),
    (["--key", "k.pub", "--certificate-identity", "a", "--certificate-oidc-issuer", "b"],
     "give --key (a key-signed image) or the --certificate-* identity flags"),
    ([], "say how to verify: --key PUB, or --certificate-identity"),
    (["--trusted-root", "x.json"], "--trusted-root is for keyless verification"),
])
def test_identity_flags_are_checked(argv: list[str], reason: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "verify", "oci:/nonexistent", *argv)
    assert code == 2 and reason in err.splitlines()[0], err


@pytest.mark.parametrize(("argv", "reason"), [
    (["--bundle", "b.json"], "--bundle FILE and --digest sha256:<hex> go together"),
    (["oci:/x", "--bundle", "b.json", "--digest", v.RS_DIGEST], "give IMAGE, or --bundle"),
    ([], "name the IMAGE"),
])
def test_bundle_flags_are_checked(argv: list[str], reason: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("verify", "verify-attestation"):
        code, _, err = run(capsys, command, *argv, *who(v.CODY, v.GITHUB_OAUTH), *ROOT)
        assert code == 2 and reason in err.splitlines()[0], err
    code, _, err = run(capsys, "verify", "--bundle", str(v.RS_BUNDLE), "--digest", v.RS_DIGEST,
                       "--key", str(v.PRODUCTION_ROOT))
    assert code == 2 and "--bundle verifies keyless bundles" in err, err


# -- hostile signatures: one line, exit 1, never a traceback --------------------------------------


def _hostile_annotations() -> list[tuple[str, dict[str, str], str]]:
    _, real = v.signature_a()
    cert, chain, bundle = ("dev.sigstore.cosign/certificate", "dev.sigstore.cosign/chain",
                           "dev.sigstore.cosign/bundle")
    body_not_b64 = json.loads(real[bundle])
    body_not_b64["Payload"]["body"] = "%%%"
    return [
        ("certificate is not PEM", {**real, cert: "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                    "-----END CERTIFICATE-----\n"}, "is not a PEM certificate"),
        ("chain is garbage", {**real, chain: "garbage"}, "the certificate chain is not a PEM"),
        ("SET is not JSON", {**real, bundle: "{not json"}, "Rekor bundle annotation"),
        ("SET has no time", {**real, bundle: json.dumps({"Payload": {"body": "x"}})},
         "the SET has no valid integratedTime"),
        ("body not base64", {**real, bundle: json.dumps(body_not_b64)}, "the SET does not verify"),
        ("no SET", {k: v for k, v in real.items() if k != bundle}, "no Rekor SET"),
        ("signed with a key", {k: v for k, v in real.items() if k != cert},
         "signed with a key (no certificate)"),
        ("huge annotation", {**real, chain: "x" * (1 << 20)}, "annotation is too large"),
    ]


@pytest.mark.parametrize(("name", "annotations", "reason"), _hostile_annotations(),
                         ids=[c[0] for c in _hostile_annotations()])
def test_hostile_classic_layers(name: str, annotations: dict[str, str], reason: str,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = v.layout_with_signature(tmp_path / "a", annotations=annotations)
    code, _, err = run(capsys, "verify", f"oci:{layout}:a", *who(v.MITR, v.GITHUB_OAUTH), *ROOT)
    one_line_failure(code, err, reason)


def _hostile_bundles() -> list[tuple[str, bytes, str]]:
    real = json.loads(v.RS_BUNDLE.read_bytes())
    no_cert = json.loads(v.RS_BUNDLE.read_bytes())
    no_cert["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(b"junk").decode()
    no_entries = json.loads(v.RS_BUNDLE.read_bytes())
    no_entries["verificationMaterial"]["tlogEntries"] = []
    key_bundle = {"mediaType": real["mediaType"], "verificationMaterial": {"publicKey": {
        "hint": "x"}}, "dsseEnvelope": real["dsseEnvelope"]}
    deep = b"[" * 10000 + b"]" * 10000
    return [
        ("not JSON", b"\x00\xffnot json", "not valid JSON"),
        ("too deep", deep, "nested"),
        ("certificate is junk", json.dumps(no_cert).encode(), "bundle"),
        ("no log entry", json.dumps(no_entries).encode(), "expected exactly one log entry"),
        ("signed with a key", json.dumps(key_bundle).encode(), "signed with a key, not a Fulcio"),
        ("an unknown media type", json.dumps({**real, "mediaType": "x"}).encode(), "bundle"),
    ]


@pytest.mark.parametrize(("name", "data", "reason"), _hostile_bundles(),
                         ids=[c[0] for c in _hostile_bundles()])
def test_hostile_bundles(name: str, data: bytes, reason: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(data)
    code, _, err = run(capsys, "verify", "--bundle", str(bundle), "--digest", v.RS_DIGEST,
                       *who(v.KUBEWARDEN, v.GITHUB), *ROOT)
    one_line_failure(code, err, reason)


def test_identity_policy_matches_like_cosign() -> None:
    policy = IdentityPolicy.create({"identity_regexp": "org/repo", "issuer": v.GITHUB})
    assert policy.matches("https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main",
                          v.GITHUB)
    assert not policy.matches("https://github.com/org/other", v.GITHUB)
    assert not policy.matches("https://github.com/org/repo/x", v.GITHUB_OAUTH)
    exact = IdentityPolicy.create({"identity": v.MITR, "issuer_regexp": "^https://github"})
    assert exact.matches((v.CODY, v.MITR), v.GITHUB_OAUTH)
    assert not exact.matches("x" + v.MITR, v.GITHUB_OAUTH)
    with pytest.raises(VerificationError, match="GitHub workflow ref is missing, not refs/x"):
        from hullcheck.signers import Signer

        IdentityPolicy.create({"identity": v.MITR, "issuer": v.GITHUB_OAUTH,
                               "github_workflow_ref": "refs/x"}).check(
            Signer(identities=(v.MITR,), issuer=v.GITHUB_OAUTH), what="t")


# -- cosign save layouts and images by digest --------------------------------------------------


def test_a_cosign_save_layout_reads_as_its_image(capsys: pytest.CaptureFixture[str]) -> None:
    """The attestation next to the image (kind ``dev.cosignproject.cosign/atts``, untagged) is
    not a second image; ``@sha256:`` names the index or one of its platform images."""
    amd64 = "sha256:d1fc0de9c6a33e502c488221644de1736c53d8ddb59b0e41b4946fb26af50e69"
    for image in (f"oci:{v.SLSA_LAYOUT}", f"oci:{v.SLSA_LAYOUT}@{v.SLSA_DIGEST}",
                  f"oci:{v.SLSA_LAYOUT}@{amd64}"):
        code, out, err = run(capsys, "sbom", image, "-o", "json")
        assert code == 0, err
        source = json.loads(out)["source"]
        assert source["manifestDigest"] == amd64 and source["platform"] == "linux/amd64"
    missing = "sha256:" + "a" * 64
    code, _, err = run(capsys, "sbom", f"oci:{v.SLSA_LAYOUT}@{missing}")
    assert code == 2 and f"no image with digest {missing} in the layout" in err, err
    code, _, err = run(capsys, "verify-attestation", f"oci:{v.SLSA_LAYOUT}@{missing}",
                       *who(v.SLSA_IDENTITY, v.GITHUB), *ROOT)
    assert code == 2 and f"no image with digest {missing} in index.json" in err, err


# -- the policy's judgement over keyless evidence (pure) -----------------------------------------


def test_policy_judges_keyless_signers_with_keys_alike() -> None:
    from hullcheck.policy import AttestationEvidence, SignatureEvidence, evaluate
    from tests.policy._build import TODAY, evidence, policy

    key = "sha256:" + "1" * 64
    rules = ("  - id: s\n    type: signatures\n    require: {require}\n    keys: [\"" + key + "\"]\n"
             "    identities:\n      - identityRegexp: ^https://github.com/org/\n"
             f"        issuer: {v.GITHUB}\n    attestations: [https://slsa.dev/provenance/v1]\n")
    by_org = SignatureEvidence(key_fingerprint="", verified=True,
                               identity="https://github.com/org/r/.github/workflows/a.yml@refs/x",
                               issuer=v.GITHUB)
    by_key = SignatureEvidence(key_fingerprint=key, verified=True)
    att = AttestationEvidence(predicate_type="https://slsa.dev/provenance/v1",
                              identity=by_org.identity, issuer=v.GITHUB)
    other_att = AttestationEvidence(predicate_type="https://slsa.dev/provenance/v1",
                                    identity="https://github.com/evil/x", issuer=v.GITHUB)

    def problems(require: str, signatures: tuple[Any, ...], attestations: tuple[Any, ...]) -> str:
        d = evaluate(evidence(signatures=signatures, attestations=attestations),
                     policy(rules.format(require=require)), now=TODAY)
        return "; ".join(v.message for v in d.violations)

    assert problems("any", (by_org,), (att,)) == ""
    assert problems("all", (by_org, by_key), (att,)) == ""
    assert "no verified signature by " + key in problems("all", (by_org,), (att,))
    assert "not signed by any required signer" in problems("any", (), (att,))
    # An attestation by an identity the rule does not name does not count.
    assert "no verified attestation of type" in problems("any", (by_org,), (other_att,))


def test_cel_rules_see_the_keyless_signer() -> None:
    """CEL reads a keyless signature's identity and issuer (and attestations'), as policy
    rules do; a key's signature has neither."""
    from hullcheck.policy import AttestationEvidence, SignatureEvidence, evaluate
    from tests.policy._build import TODAY, evidence, policy

    rules = ("  - id: by-org\n    type: cel\n    expression: >-\n"
             "      signatures.exists(s, s.verified && s.issuer == '" + v.GITHUB + "' &&\n"
             "        s.identity.startsWith('https://github.com/org/')) &&\n"
             "      attestations.exists(a, a.identity.startsWith('https://github.com/org/'))\n")
    org = "https://github.com/org/r/.github/workflows/a.yml@refs/x"
    by_key = SignatureEvidence(key_fingerprint="sha256:" + "1" * 64, verified=True)
    att = AttestationEvidence(predicate_type="https://slsa.dev/provenance/v1", identity=org,
                              issuer=v.GITHUB)

    def passes(*signatures: SignatureEvidence) -> bool:
        d = evaluate(evidence(signatures=signatures, attestations=(att,)), policy(rules),
                     now=TODAY)
        return not d.violations

    assert passes(SignatureEvidence(key_fingerprint="", verified=True, identity=org,
                                    issuer=v.GITHUB))
    assert not passes(by_key)
    assert not passes(SignatureEvidence(key_fingerprint="", verified=True, identity=org,
                                        issuer=v.GITHUB_OAUTH))
