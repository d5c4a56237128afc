"""``hullcheck base --max-age``: the base's config is read from its registry against the size
its manifest's config descriptor declares. A hostile registry (a real HTTP server on
127.0.0.1) serves a base whose config blob hashes to its own digest but is a byte longer or
shorter than declared, or whose descriptor has no valid size: exit 2, one line saying which
blob and which sizes (or which descriptor), no traceback."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck.base.identify import BASE_DIGEST, BASE_NAME
from hullcheck.cli.main import main
from hullcheck.image.writer import BuiltImage, ImageBuilder
from hullcheck.registry.client import MAX_CONFIG_SIZE
from tests.fixtures.base.images import old_base, os_release
from tests.fixtures.images import write
from tests.registry._servers import Handler, Server, reply, serve

REPO = "hcbase/debian"
_MISSING = object()


def _misdeclared(size: object) -> BuiltImage:
    """The old base with its config descriptor's ``size`` replaced (``_MISSING``: removed);
    the config blob itself is unchanged, so it still hashes to the digest named."""
    base = old_base()
    doc = json.loads(base.manifest)
    if size is _MISSING:
        del doc["config"]["size"]
    else:
        doc["config"]["size"] = size
    return BuiltImage(manifest=json.dumps(doc).encode(), config=base.config, layers=base.layers)


def _registry(base: BuiltImage, *, length: bool = True) -> contextlib.AbstractContextManager[Server]:
    """A registry holding ``base`` as ``hcbase/debian:12`` (and by digest); without ``length``
    blobs are sent with no Content-Length, to the end of the connection."""
    blobs = base.blobs()

    def answer(h: Handler) -> None:
        path = h.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[1]
        if path == "/v2/":
            reply(h, 200, b"{}")
        elif "/manifests/" in path and name in ("12", base.digest):
            reply(h, 200, base.manifest, {"Content-Type": base.manifest_media_type,
                                          "Docker-Content-Digest": base.digest})
        elif "/blobs/" in path and name in blobs and not length:
            h.send_response(200)
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            h.wfile.write(blobs[name])
        elif "/blobs/" in path and name in blobs:
            reply(h, 200, blobs[name])
        else:
            reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}')

    return serve(answer)


def _app(tmp: Path, host: str, base: BuiltImage) -> str:
    """An application image whose annotations name the base by tag and digest."""
    b = ImageBuilder(annotations={BASE_NAME: f"{host}/{REPO}:12", BASE_DIGEST: base.digest})
    b.add_layer({"etc/os-release": os_release("debian", "12", "bookworm")})
    return write(b.build(), tmp)


def _said(tmp: Path, base: BuiltImage, capsys: pytest.CaptureFixture[str],
          *, length: bool = True) -> tuple[str, str]:
    """The one error line of ``hullcheck base --max-age`` (exit 2) and the registry's host."""
    with _registry(base, length=length) as reg:
        code = main(["base", _app(tmp, reg.host, base), "--catalog", str(tmp / "none.json"),
                     "--no-advice", "-o", "json", "--max-age", "30"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint:")), lines
    return lines[0], reg.host


def test_a_well_declared_config_gives_the_freshness(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same registry and image with the config's true size pass."""
    base = _misdeclared(len(old_base().config))
    with _registry(base) as reg:
        code = main(["base", _app(tmp_path, reg.host, base), "--catalog",
                     str(tmp_path / "none.json"), "--no-advice", "-o", "json", "--max-age", "30"])
    out, err = capsys.readouterr()
    assert code == 0, err
    fresh = json.loads(out)["freshness"]
    assert fresh["builtDigest"] == fresh["currentDigest"] == base.digest
    assert fresh["daysBehind"] == 0


@pytest.mark.parametrize("delta", [-1, 1], ids=["longer", "shorter"])
def test_a_config_of_another_length_than_its_content_length_says(
        tmp_path: Path, delta: int, capsys: pytest.CaptureFixture[str]) -> None:
    config = old_base().config
    base = _misdeclared(len(config) + delta)
    said, host = _said(tmp_path, base, capsys)
    assert said == (f"hullcheck: error: {host}/{REPO} blob {base.config_digest}: {host} serves "
                    f"{len(config)} bytes, expected {len(config) + delta}")


@pytest.mark.parametrize(("delta", "way"), [
    (-1, "longer than its declared size {declared}"),
    (1, "truncated, {actual} of {declared} bytes")], ids=["longer", "shorter"])
def test_a_config_sent_without_a_length_is_read_to_its_declared_size(
        tmp_path: Path, delta: int, way: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = old_base().config
    base = _misdeclared(len(config) + delta)
    said, host = _said(tmp_path, base, capsys, length=False)
    expected = way.format(declared=len(config) + delta, actual=len(config))
    assert said == f"hullcheck: error: {host}/{REPO} blob {base.config_digest}: {expected}"


@pytest.mark.parametrize(("size", "state"), [
    (_MISSING, "has no size"), (-1, "has an invalid size"), ("12", "has an invalid size"),
    (1.5, "has an invalid size"), (True, "has an invalid size"),
    (MAX_CONFIG_SIZE + 1, f"declares {MAX_CONFIG_SIZE + 1} bytes, over the "
                          f"{MAX_CONFIG_SIZE}-byte limit")],
    ids=["missing", "negative", "a string", "a fraction", "true", "over the cap"])
def test_a_config_descriptor_without_a_valid_size_is_refused(
        tmp_path: Path, size: Any, state: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = _misdeclared(size)
    said, host = _said(tmp_path, base, capsys)
    assert said == (f"hullcheck: error: {host}/{REPO}:12@{base.digest}: manifest {base.digest} "
                    f"config: descriptor {base.config_digest} {state}")
