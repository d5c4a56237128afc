"""``hullcheck verify``: every signature manifest and layer is read against the size its
descriptor declares. A signed image is served by a hostile registry (a real HTTP server on
127.0.0.1) or kept in an OCI layout, with one descriptor's ``size`` a byte off while the
object still hashes to its own digest, or with no valid size: the candidate does not verify
and the one line says which object and which sizes (exit 1: not verified, the rule for any
candidate that fails; another candidate may still verify); an index.json entry of the
signature tag that lies about its manifest's size is the layout's error (exit 2)."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from hullcheck.digest import sha256_digest
from hullcheck.image.writer import BuiltImage
from hullcheck.registry.media import OCI_INDEX, OCI_MANIFEST
from hullcheck.sign import cosign, keys, simplesigning
from hullcheck.sign.store import REF_NAME, attached_tag, open_target
from tests.fixtures.images import build, write
from tests.registry._servers import Handler, Server, reply, serve

_MISSING = object()


@dataclass(frozen=True)
class Signed:
    """An image signed into an OCI layout: a ``.sig`` tag and a Sigstore bundle referrer."""

    image: BuiltImage
    root: Path  # the layout
    blobs: dict[str, bytes]  # every blob of the layout, by digest
    sig_tag: str
    sig: dict[str, Any]  # the .sig manifest
    referrer: dict[str, Any]  # the referrer's index.json entry
    pub: Path


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    tmp = tmp_path_factory.mktemp("signed")
    image = build({"etc/os-release": "ID=test\nVERSION_ID=1\n"})
    key = keys.generate()
    done = cosign.sign_image(open_target(write(image, tmp)), key, bundle=True)
    assert done.referrer_digest
    root = tmp / "oci"
    blobs = {f"sha256:{p.name}": p.read_bytes() for p in (root / "blobs" / "sha256").iterdir()}
    entries = json.loads((root / "index.json").read_text())["manifests"]
    sig_tag = attached_tag(image.digest, "sig")
    sig = next(e for e in entries if e.get("annotations", {}).get(REF_NAME) == sig_tag)
    referrer = next(e for e in entries if e.get("artifactType"))
    pub = tmp / "k.pub"
    pub.write_bytes(key.public.pem())
    return Signed(image=image, root=root, blobs=blobs, sig_tag=sig_tag,
                  sig=json.loads(blobs[sig["digest"]]), referrer=referrer, pub=pub)


def _with_layer_size(manifest: dict[str, Any], size: object) -> bytes:
    """``manifest`` with its first layer descriptor's ``size`` replaced (``_MISSING``: removed)."""
    layer = dict(manifest["layers"][0])
    if size is _MISSING:
        del layer["size"]
    else:
        layer["size"] = size
    return json.dumps({**manifest, "layers": [layer, *manifest["layers"][1:]]}).encode()


def _verify(ref: str, s: Signed, capsys: pytest.CaptureFixture[str], code: int) -> str:
    """The one error line of ``hullcheck verify`` (exit ``code``), no traceback."""
    assert main(["verify", ref, "--key", str(s.pub)]) == code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and "Traceback" not in err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint:")), lines
    return lines[0]


# -- from a registry ------------------------------------------------------------------------


@contextlib.contextmanager
def _registry(s: Signed, *, sig: bytes | None = None, referrers: list[dict[str, Any]] | None = None,
              length: bool = True) -> Iterator[Server]:
    """A registry holding the image as ``team/app:1``; its ``.sig`` manifest ``sig`` (none:
    no such tag); ``referrers`` listed by the referrers API (none: the API answers 404, and
    no referrers tag exists); any blob of the layout by digest, as a manifest or a blob.
    Without ``length``, manifests named by digest and blobs come with no Content-Length."""
    named = {"1": s.image.manifest, s.image.digest: s.image.manifest}
    if sig is not None:
        named[s.sig_tag] = sig

    def answer(h: Handler) -> None:
        path = h.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[1]
        if path == "/v2/":
            reply(h, 200, b"{}")
        elif "/referrers/" in path and referrers is not None:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers}
            reply(h, 200, json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
        elif "/manifests/" in path and name in named:
            reply(h, 200, named[name], {"Content-Type": OCI_MANIFEST})
        elif ("/manifests/" in path or "/blobs/" in path) and name in s.blobs and not length:
            h.send_response(200)
            h.send_header("Content-Type", OCI_MANIFEST)
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            h.wfile.write(s.blobs[name])
        elif ("/manifests/" in path or "/blobs/" in path) and name in s.blobs:
            reply(h, 200, s.blobs[name], {"Content-Type": OCI_MANIFEST})
        else:
            reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}')

    with serve(answer) as server:
        yield server


def test_the_controls_verify(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    """The image verifies through its .sig tag alone, and through its referrer alone, when
    every size is true: the refusals below are the sizes'."""
    with _registry(signed, sig=json.dumps(signed.sig).encode()) as reg:
        assert main(["verify", f"{reg.host}/team/app:1", "--key", str(signed.pub)]) == 0
    with _registry(signed, referrers=[signed.referrer]) as reg:
        assert main(["verify", f"{reg.host}/team/app:1", "--key", str(signed.pub)]) == 0
    with _registry(signed, referrers=[signed.referrer], length=False) as reg:
        assert main(["verify", f"{reg.host}/team/app:1", "--key", str(signed.pub)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(("delta", "length", "way"), [
    (-1, True, "{host} serves {actual} bytes, expected {declared}"),
    (1, True, "{host} serves {actual} bytes, expected {declared}"),
    (-1, False, "longer than its declared size {declared}"),
    (1, False, "truncated, {actual} of {declared} bytes")],
    ids=["longer", "shorter", "longer, no length", "shorter, no length"])
def test_a_referrer_manifest_of_another_size_than_listed(
        signed: Signed, delta: int, length: bool, way: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    listed = {**signed.referrer, "size": signed.referrer["size"] + delta}
    digest = listed["digest"]
    with _registry(signed, referrers=[listed], length=length) as reg:
        said = _verify(f"{reg.host}/team/app:1", signed, capsys, 1)
    ref = f"{reg.host}/team/app:1"
    why = way.format(host=reg.host, actual=signed.referrer["size"], declared=listed["size"])
    where = f"{reg.host}/team/app@{digest}" if length else f"{reg.host}/team/app {digest}"
    assert said == (f"hullcheck: error: no valid signature for {ref} ({signed.image.digest}): "
                    f"referrer {digest}: unreadable (manifest {where}: {why})")


@pytest.mark.parametrize(("size", "state"), [
    (_MISSING, "has no size"), (-1, "has an invalid size"), ("12", "has an invalid size"),
    (1.5, "has an invalid size"), (True, "has an invalid size")],
    ids=["missing", "negative", "a string", "a fraction", "true"])
def test_a_signature_layer_without_a_valid_size_is_refused(
        signed: Signed, size: object, state: str, capsys: pytest.CaptureFixture[str]) -> None:
    layer = signed.sig["layers"][0]["digest"]
    with _registry(signed, sig=_with_layer_size(signed.sig, size)) as reg:
        said = _verify(f"{reg.host}/team/app:1", signed, capsys, 1)
    assert said == (f"hullcheck: error: no valid signature for {reg.host}/team/app:1 "
                    f"({signed.image.digest}): tag {signed.sig_tag}: layer: descriptor {layer} "
                    f"{state}")


# -- from an OCI layout ----------------------------------------------------------------------


def _layout(s: Signed, tmp: Path, *, sig: bytes | None = None, sig_size: int | None = None,
            referrer_size: int | None = None) -> Path:
    """A copy of the signed layout: its .sig manifest replaced by ``sig`` and its index.json
    entry declaring ``sig_size`` (default: the true size), or (``referrer_size``) the
    referrer's entry declaring that. Only the candidate changed is kept in index.json."""
    root = tmp / "oci"
    shutil.copytree(s.root, root)
    index = json.loads((root / "index.json").read_text())
    sig_entry = next(e for e in index["manifests"]
                     if e.get("annotations", {}).get(REF_NAME) == s.sig_tag)
    if referrer_size is not None:
        kept = [{**s.referrer, "size": referrer_size}]
    else:
        if sig is not None:
            digest = sha256_digest(sig)
            (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(sig)
            sig_entry = {**sig_entry, "digest": digest, "size": len(sig)}
        kept = [{**sig_entry, "size": sig_entry["size"] if sig_size is None else sig_size}]
    image = [e for e in index["manifests"] if e["digest"] == s.image.digest]
    (root / "index.json").write_text(json.dumps({**index, "manifests": image + kept}))
    return root


def test_the_layout_controls_verify(signed: Signed, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name, kwargs in {"sig": {}, "referrer": {"referrer_size": signed.referrer["size"]}}.items():
        root = _layout(signed, tmp_path / name, **kwargs)
        assert main(["verify", f"oci:{root}", "--key", str(signed.pub)]) == 0, name
    capsys.readouterr()


@pytest.mark.parametrize("delta", [-1, 1], ids=["longer", "shorter"])
def test_a_layout_signature_layer_of_another_size_than_declared(
        signed: Signed, tmp_path: Path, delta: int, capsys: pytest.CaptureFixture[str]) -> None:
    layer = signed.sig["layers"][0]
    declared = layer["size"] + delta
    root = _layout(signed, tmp_path, sig=_with_layer_size(signed.sig, declared))
    way = (f"longer than its declared size {declared}" if delta < 0
           else f"truncated, {layer['size']} of {declared} bytes")
    assert _verify(f"oci:{root}", signed, capsys, 1) == (
        f"hullcheck: error: no valid signature for oci:{root} ({signed.image.digest}): "
        f"tag {signed.sig_tag}: blob in {root} {layer['digest']}: {way}")


def test_a_layout_signature_layer_declared_over_the_payload_cap(
        signed: Signed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused from its descriptor, before the file is read."""
    layer = signed.sig["layers"][0]
    declared = simplesigning.MAX_PAYLOAD + 1
    root = _layout(signed, tmp_path, sig=_with_layer_size(signed.sig, declared))
    assert _verify(f"oci:{root}", signed, capsys, 1) == (
        f"hullcheck: error: no valid signature for oci:{root} ({signed.image.digest}): "
        f"tag {signed.sig_tag}: blob {layer['digest']} in {root} is declared {declared} bytes, "
        f"over the {simplesigning.MAX_PAYLOAD}-byte limit")


@pytest.mark.parametrize("delta", [-1, 1], ids=["longer", "shorter"])
def test_a_layout_signature_manifest_of_another_size_than_its_entry_says(
        signed: Signed, tmp_path: Path, delta: int, capsys: pytest.CaptureFixture[str]) -> None:
    sig = json.dumps(signed.sig).encode()
    declared = len(sig) + delta
    root = _layout(signed, tmp_path, sig=sig, sig_size=declared)
    way = (f"longer than its declared size {declared}" if delta < 0
           else f"truncated, {len(sig)} of {declared} bytes")
    assert _verify(f"oci:{root}", signed, capsys, 2) == (
        f"hullcheck: error: blob in {root} {sha256_digest(sig)}: {way}")


def test_a_layout_referrer_of_another_size_than_its_entry_says_is_not_used(
        signed: Signed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A layout has no referrers index: its entries are read to find their subject, and one
    that cannot be read at its declared size is not listed (as an unreadable one is not)."""
    root = _layout(signed, tmp_path, referrer_size=signed.referrer["size"] - 1)
    assert _verify(f"oci:{root}", signed, capsys, 1) == (
        f"hullcheck: error: no signatures found for oci:{root} ({signed.image.digest})")
