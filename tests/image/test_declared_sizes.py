"""A manifest, index or config whose bytes are longer or shorter than its descriptor's
``size`` is refused in one line saying so (not "content hashes to ..."), from an OCI layout,
an OCI archive or a registry; a registry is read no further than a byte past the declared
size; a descriptor without a valid size is refused where the OCI image spec requires one."""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from hullcheck.digest import sha256_digest
from hullcheck.image.oci import OCI_INDEX, OCI_MANIFEST, REF_NAME
from hullcheck.image.writer import BuiltImage, file
from tests.fixtures.images import build
from tests.registry._servers import Handler, Server, reply, serve

PLATFORM = {"os": "linux", "architecture": "amd64"}


def _image() -> BuiltImage:
    return build([file("etc/a", "a" * 100)])


def _said(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of ``hullcheck sbom`` (exit 2, then its hint)."""
    assert main(["sbom", *args, "--no-cache", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("hint:"), err
    return err[0]


def _misdeclared(image: BuiltImage, part: str, delta: int) -> tuple[dict[str, bytes], dict[str, Any]]:
    """``image``'s blobs and a descriptor of its manifest, where the manifest (``part`` =
    "manifest") or the config ("config") is a byte longer than before (a space: still the same
    JSON, and still hashing to its digest) and its descriptor declares ``delta`` bytes more
    than it holds."""
    blobs = image.blobs()
    manifest = image.manifest
    if part == "config":
        config = image.config + b" "
        blobs[sha256_digest(config)] = config
        doc = json.loads(manifest)
        doc["config"] = {**doc["config"], "digest": sha256_digest(config),
                         "size": len(config) + delta}
        manifest = json.dumps(doc).encode()
    else:
        manifest += b" "
    blobs[sha256_digest(manifest)] = manifest
    top = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest),
           "size": len(manifest) + (delta if part == "manifest" else 0)}
    return blobs, top


def _layout(root: Path, blobs: dict[str, bytes], descriptors: list[dict[str, Any]]) -> Path:
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for digest, data in blobs.items():
        (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    (root / "index.json").write_text(json.dumps(index))
    return root


def _archive(root: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tar:
        for name in sorted(os.listdir(root)):
            tar.add(root / name, arcname=name)
    return dest


def _expected(part: str, top: dict[str, Any], blobs: dict[str, bytes], delta: int) -> str:
    """What the user is told: which blob, and which way its length is wrong."""
    digest = top["digest"]
    if part == "config":
        digest = json.loads(blobs[digest])["config"]["digest"]
    actual = len(blobs[digest])
    declared = actual + delta
    way = f"longer than its declared size {declared}" if delta < 0 else (
        f"truncated, {actual} of {declared} bytes")
    return f"hullcheck: error: {part} {digest}: {way}"


CASES = [("manifest", -1), ("manifest", 1), ("config", -1), ("config", 1)]
IDS = ["manifest longer", "manifest shorter", "config longer", "config shorter"]


@pytest.mark.parametrize(("part", "delta"), CASES, ids=IDS)
@pytest.mark.parametrize("form", ["oci", "oci-archive"])
def test_a_stored_manifest_or_config_of_another_size_than_declared(
        tmp_path: Path, part: str, delta: int, form: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    blobs, top = _misdeclared(_image(), part, delta)
    root = _layout(tmp_path / "oci", blobs, [top])
    ref = f"oci:{root}" if form == "oci" else f"oci-archive:{_archive(root, tmp_path / 'i.tar')}"
    assert _said([ref], capsys) == _expected(part, top, blobs, delta)


def test_a_nested_index_of_another_size_than_declared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """index.json -> an index a byte longer than its descriptor says -> the image."""
    image = _image()
    nested = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        image.descriptor(platform=PLATFORM)]}).encode()
    top: dict[str, Any] = {"mediaType": OCI_INDEX, "digest": sha256_digest(nested), "size": len(nested) - 1}
    root = _layout(tmp_path / "oci", {**image.blobs(), top["digest"]: nested}, [top])
    assert _said([f"oci:{root}"], capsys) == (
        f"hullcheck: error: manifest {top['digest']}: longer than its declared size "
        f"{len(nested) - 1}")


@pytest.mark.parametrize(("size", "state"), [
    (None, "no size"), (-1, "an invalid size"), ("12", "an invalid size"),
    (1.5, "an invalid size"), (True, "an invalid size")],
    ids=["missing", "negative", "a string", "a fraction", "true"])
def test_a_descriptor_without_a_valid_size_is_refused(
        tmp_path: Path, size: object, state: str, capsys: pytest.CaptureFixture[str]) -> None:
    image = _image()
    top = image.descriptor(annotations={REF_NAME: "1"})
    if size is None:
        del top["size"]
    else:
        top["size"] = size
    root = _layout(tmp_path / "oci", image.blobs(), [top])
    assert _said([f"oci:{root}:1"], capsys) == (
        f"hullcheck: error: {root}: descriptor {image.digest} has {state}")


def test_a_layer_descriptor_without_a_size_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _image()
    doc = json.loads(image.manifest)
    del doc["layers"][0]["size"]
    manifest = json.dumps(doc).encode()
    top: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest),
                           "size": len(manifest)}
    root = _layout(tmp_path / "oci", {**image.blobs(), top["digest"]: manifest}, [top])
    assert _said([f"oci:{root}"], capsys) == (
        f"hullcheck: error: manifest {top['digest']}: descriptor {image.layers[0].digest} "
        f"has no size")


def test_a_layout_image_named_by_digest_alone_is_read_at_its_own_size(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``oci:DIR@sha256:...`` of a manifest index.json does not list: no descriptor declares
    its size, so the size it was read at is the one checked again."""
    image = _image()
    other = build([file("etc/b", "b")])
    root = _layout(tmp_path / "oci", {**image.blobs(), **other.blobs()},
                   [other.descriptor(annotations={REF_NAME: "other"})])
    assert main(["sbom", f"oci:{root}@{image.digest}", "--no-cache", "-q", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"]["manifestDigest"] == image.digest


# -- from a registry --------------------------------------------------------------------------


def _registry(blobs: dict[str, bytes], index: bytes,
              endless: str | None = None) -> contextlib.AbstractContextManager[Server]:
    """A registry answering tag ``1`` with ``index`` and every digest with its blob;
    ``endless``: a digest answered with its blob then spaces, with no length, until the
    client hangs up (64 MiB at most)."""

    def answer(h: Handler) -> None:
        path = h.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[1]
        if path == "/v2/":
            reply(h, 200, b"{}")
        elif path.endswith("/manifests/1"):
            reply(h, 200, index, {"Content-Type": OCI_INDEX})
        elif name == endless:
            h.send_response(200)
            h.send_header("Content-Type", OCI_MANIFEST)
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            h.wfile.write(blobs[name])
            for _ in range(1024):  # an OSError ends it when the client hangs up
                h.wfile.write(b" " * 65536)
        elif name in blobs:
            media = OCI_MANIFEST if "/manifests/" in path else "application/octet-stream"
            reply(h, 200, blobs[name], {"Content-Type": media})
        else:
            reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}')

    return serve(answer)


def _index_of(top: dict[str, Any]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [{**top, "platform": PLATFORM}]}).encode()


@pytest.mark.parametrize(("part", "delta"), CASES, ids=IDS)
def test_a_registry_manifest_or_config_of_another_size_than_declared(
        part: str, delta: int, capsys: pytest.CaptureFixture[str]) -> None:
    blobs, top = _misdeclared(_image(), part, delta)
    with _registry(blobs, _index_of(top)) as reg:
        said = _said([f"{reg.host}/team/app:1"], capsys)
    digest = top["digest"] if part == "manifest" else json.loads(blobs[top["digest"]])[
        "config"]["digest"]
    actual = len(blobs[digest])
    what = (f"manifest {reg.host}/team/app:1@{digest}" if part == "manifest"
            else f"{reg.host}/team/app blob {digest}")
    assert said == f"hullcheck: error: {what}: {reg.host} serves {actual} bytes, expected {actual + delta}"


def test_a_registry_manifest_longer_than_declared_is_read_no_further_than_a_byte_past_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The manifest an index names, sent with no length and followed by spaces without end
    (valid JSON whatever its length): it is refused once one byte past its declared size has
    come, not read on to the 4 MiB cap of a manifest whose size nobody declared."""
    blobs, top = _misdeclared(_image(), "manifest", 0)
    with _registry(blobs, _index_of(top), endless=top["digest"]) as reg:
        said = _said([f"{reg.host}/team/app:1"], capsys)
    assert said == (f"hullcheck: error: manifest {reg.host}/team/app {top['digest']}: "
                    f"longer than its declared size {top['size']}")
