"""A digest is ``sha256:<64 hex>`` (or ``sha512:<128 hex>``) and nothing after it: the
promise that makes it safe wherever it becomes a file name (an OCI layout's blob path, an
archive member) or a URL (a registry's blob path). ``sha256:<hex>/../../etc/passwd`` once
parsed with the end anchor removed from the pattern and no test noticed; these do.

The images are real OCI layouts and archives (hullcheck's writer, then edited as an
attacker would); the registry is a real HTTP server on 127.0.0.1 that records every
request, so "refused" also means "never asked for"."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hullcheck import filetree
from hullcheck.cli.main import main
from hullcheck.digest import VerifyingReader, parse_digest, sha256_digest, verify_bytes
from hullcheck.errors import ImageError
from hullcheck.image import open_image
from hullcheck.image.writer import (
    BuiltImage,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)
from hullcheck.registry import media
from hullcheck.registry.client import RegistryClient
from tests.fixtures.images import build

HEX = hashlib.sha256(b"hullcheck").hexdigest()
HEX512 = hashlib.sha512(b"hullcheck").hexdigest()
ESCAPE = "/../../../../etc/passwd"
# What may follow a valid digest in hostile input: a path out of the blob directory, a
# separator, a line break (``$`` matches before a final newline; a registry URL with one is
# refused by httpx as an internal error), a NUL, a space.
SUFFIXES = [ESCAPE, "/", "\n", "\x00", " ", "x"]


# -- the parser ----------------------------------------------------------------------------


def test_a_digest_is_split_into_its_algorithm_and_hex() -> None:
    assert parse_digest(f"sha256:{HEX}") == ("sha256", HEX)
    assert parse_digest(f"sha512:{HEX512}") == ("sha512", HEX512)


@pytest.mark.parametrize("suffix", SUFFIXES, ids=repr)
@pytest.mark.parametrize("valid", [f"sha256:{HEX}", f"sha512:{HEX512}"], ids=["sha256", "sha512"])
def test_nothing_may_follow_the_hex(valid: str, suffix: str) -> None:
    bad = valid + suffix
    with pytest.raises(ImageError, match=r"^invalid layer digest '.*': expected sha256:<64"):
        parse_digest(bad, what="layer digest")
    # Every reader of a digest goes through the parser.
    with pytest.raises(ImageError, match="invalid"):
        verify_bytes(b"hullcheck", bad, what="blob")
    with pytest.raises(ImageError, match="invalid"):
        VerifyingReader(io.BytesIO(b"hullcheck"), bad, what="blob")


@pytest.mark.parametrize("bad", [
    f"SHA256:{HEX}", f"sha256:{HEX.upper()}", f"sha256:{HEX[:-1]}", f"sha256:{HEX}0",
    f"sha512:{HEX}", f"md5:{HEX[:32]}", f"sha256:{ESCAPE}", f"../sha256:{HEX}", f" sha256:{HEX}",
    "", "sha256:",
])
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(ImageError, match="expected sha256:<64 hex digits>"):
        parse_digest(bad)


def test_a_valid_digest_verifies_its_content() -> None:
    assert verify_bytes(b"hullcheck", f"sha256:{HEX}", what="blob") == b"hullcheck"
    reader = VerifyingReader(io.BytesIO(b"hullcheck"), f"sha256:{HEX}", what="blob")
    assert reader.read() == b"hullcheck"


# -- OCI layouts and archives: the digest names a blob file ---------------------------------


def _image() -> BuiltImage:
    return build({"etc/os-release": "ID=debian\nVERSION_ID=12\n"}, {"srv/app": "v1"})


def _with_layer_digest(img: BuiltImage, digest: str) -> BuiltImage:
    """``img`` whose manifest names its last layer by ``digest`` (the manifest re-hashed, so
    only that text is hostile; the blob it starts with is the real layer)."""
    doc = json.loads(img.manifest)
    doc["layers"][-1]["digest"] = digest
    return replace(img, manifest=json.dumps(doc).encode())


def _with_diff_id(img: BuiltImage, diff_id: str) -> BuiltImage:
    config = json.loads(img.config)
    config["rootfs"]["diff_ids"][-1] = diff_id
    return replace(img, config=json.dumps(config).encode())


def _renamed_in_index(layout: Path, digest: str) -> None:
    """index.json of ``layout`` naming its one manifest by ``digest``."""
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0]["digest"] = digest
    (layout / "index.json").write_text(json.dumps(index))


def _tar_of(layout: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tf:
        for path in sorted(layout.rglob("*")):
            if path.is_file():
                tf.add(path, arcname=str(path.relative_to(layout)))
    return dest


def _hostile_images(tmp: Path, suffix: str) -> dict[str, str]:
    """One image argument per place a digest is read from a stored image, each carrying
    ``suffix`` after an otherwise valid digest of a blob that is really there."""
    img = _image()
    out: dict[str, str] = {}
    layer = _with_layer_digest(img, img.layers[-1].digest + suffix)
    out["oci layer descriptor"] = f"oci:{write_oci_layout(tmp / 'layer', [(layer, 'latest')])}"
    out["oci-archive layer descriptor"] = "oci-archive:" + str(
        write_oci_archive(tmp / "layer.tar", layer, "latest"))
    index = write_oci_layout(tmp / "index", [(img, "latest")])
    _renamed_in_index(index, img.digest + suffix)
    out["oci index descriptor"] = f"oci:{index}"
    out["oci-archive index descriptor"] = f"oci-archive:{_tar_of(index, tmp / 'index.tar')}"
    config = json.loads(img.manifest)["config"]["digest"]
    cfg = _with_layer_digest(img, img.layers[-1].digest)
    doc = json.loads(cfg.manifest)
    doc["config"]["digest"] = config + suffix
    cfg = replace(cfg, manifest=json.dumps(doc).encode())
    out["oci config descriptor"] = f"oci:{write_oci_layout(tmp / 'config', [(cfg, 'latest')])}"
    diff = _with_diff_id(img, img.layers[-1].diff_id + suffix)
    out["docker-archive diff_id"] = "docker-archive:" + str(
        write_docker_archive(tmp / "docker.tar", diff, ["test:latest"]))
    return out


@pytest.mark.parametrize("suffix", [ESCAPE, "\n"], ids=repr)
def test_stored_images_refuse_a_digest_with_a_tail(tmp_path: Path, suffix: str) -> None:
    images = _hostile_images(tmp_path, suffix)
    assert len(images) == 6
    for where, ref in images.items():
        with pytest.raises(ImageError, match=r"^invalid .*: expected sha256:<64") as caught:
            image = open_image(ref)
            filetree.build(image)  # layers are opened here
        assert "\n" not in str(caught.value).replace("\\n", ""), where
    # The same images, untouched, open and read: the refusal is the tail's doing.
    plain = write_oci_layout(tmp_path / "plain", [(_image(), "latest")])
    tree = filetree.build(open_image(f"oci:{plain}"), ["/srv/*"])
    assert tree.view().read("/srv/app") == b"v1"


def test_the_cli_says_one_line_and_exits_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ref = _hostile_images(tmp_path, ESCAPE)["oci layer descriptor"]
    assert main(["sbom", ref, "-o", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = [x for x in err.splitlines() if x.strip() and not x.startswith("hint:")]
    assert "invalid" in line and "etc/passwd" in line and "Traceback" not in err


# -- a registry: the digest becomes a URL path ----------------------------------------------


class _Registry(ThreadingHTTPServer):
    """A registry serving one image, recording (method, path) of every request."""

    daemon_threads = True

    def __init__(self, blobs: dict[str, bytes], manifest: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.blobs, self.manifest = blobs, manifest
        self.requests: list[tuple[str, str]] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Registry

    def _answer(self, body: bool) -> None:
        self.server.requests.append((self.command, self.path))
        data: bytes | None = None
        kind = "application/octet-stream"
        if self.path == "/v2/":
            data, kind = b"{}", "application/json"
        elif self.path == "/v2/app/manifests/1":
            data, kind = self.server.manifest, media.OCI_MANIFEST
        elif self.path.startswith("/v2/app/blobs/"):
            data = self.server.blobs.get(self.path.removeprefix("/v2/app/blobs/"))
        if data is None:
            data, kind = b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json"
            self.send_response(404)
        else:
            self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self) -> None:  # http.server's naming
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


Serve = Callable[[BuiltImage], "_Registry"]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """serve(image) -> a running registry holding ``image`` as 127.0.0.1:PORT/app:1."""
    servers: list[_Registry] = []

    def start(img: BuiltImage) -> _Registry:
        srv = _Registry(img.blobs(), img.manifest)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _asked_outside_the_blobs(srv: _Registry, img: BuiltImage) -> list[str]:
    """Paths the registry was asked for that are not /v2/, the manifest or a real blob."""
    allowed = {"/v2/", "/v2/app/manifests/1"} | {f"/v2/app/blobs/{d}" for d in img.blobs()}
    return [path for _, path in srv.requests if path not in allowed]


def test_the_client_sends_no_request_for_a_digest_with_a_tail(serve: Serve) -> None:
    img = _image()
    srv = serve(img)
    bad = img.layers[-1].digest + ESCAPE  # httpx would resolve the dots: GET /etc/passwd
    with RegistryClient(credentials=None) as client:
        with pytest.raises(ImageError, match=r"^invalid \S+/app blob digest"):
            client.fetch_blob(f"{srv.host}/app", bad)
        with pytest.raises(ImageError, match="invalid"), client.open_blob(f"{srv.host}/app", bad):
            pass
        with pytest.raises(ImageError, match="invalid"):
            client.push_blob(f"{srv.host}/app", b"x", bad, 1)
        # The same blob by its real digest is fetched: the server works.
        assert client.fetch_blob(f"{srv.host}/app", img.layers[-1].digest) == img.layers[-1].blob
    assert srv.requests and _asked_outside_the_blobs(srv, img) == []


@pytest.mark.parametrize("suffix", [ESCAPE, "\n"], ids=repr)
def test_a_hostile_manifest_cannot_steer_the_blob_urls(
        serve: Serve, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A registry's manifest names a layer ``sha256:<real hex>/../../../../etc/passwd``:
    refused before any blob is asked for (the dots would take the request out of the
    repository), with one line and exit 2, not an internal error."""
    img = _image()
    hostile = _with_layer_digest(img, img.layers[-1].digest + suffix)
    srv = serve(hostile)
    with pytest.raises(ImageError, match="invalid"):
        filetree.build(open_image(f"{srv.host}/app:1"))
    assert main(["sbom", f"{srv.host}/app:1", "-o", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "invalid" in err and "Traceback" not in err
    assert _asked_outside_the_blobs(srv, hostile) == []
    assert not any(path.startswith("/v2/app/blobs/") and path.endswith(img.layers[-1].digest)
                   for _, path in srv.requests)  # the layer itself was never asked for


def test_the_registry_serves_the_untouched_image(serve: Serve) -> None:
    """The refusals above are the tail's doing: the same registry serves the real image."""
    img = _image()
    srv = serve(img)
    tree = filetree.build(open_image(f"{srv.host}/app:1"), ["/srv/*"])
    assert tree.view().read("/srv/app") == b"v1"
    assert _asked_outside_the_blobs(srv, img) == []
    assert sha256_digest(img.layers[-1].blob) == img.layers[-1].digest


def test_the_verifying_reader_fills_buffers_and_verifies_at_the_end() -> None:
    """readinto (the io protocol zstandard and tarfile may use) fills each buffer in turn and
    verifies once the blob ends, as read does."""

    def fill(data: bytes, digest: str) -> list[bytes]:
        reader = VerifyingReader(io.BytesIO(data), digest, what="blob", size=len(data))
        assert reader.readable()
        buf = memoryview(bytearray(1000))
        pieces = []
        while n := reader.readinto(buf):
            pieces.append(bytes(buf[:n]))
        return pieces

    data = bytes(range(256)) * 40
    digest = sha256_digest(data)
    pieces = fill(data, digest)
    assert b"".join(pieces) == data
    assert [len(p) for p in pieces] == [1000] * 10 + [240]
    with pytest.raises(ImageError, match="content hashes to sha256:"):
        fill(data[:-1] + b"X", digest)
