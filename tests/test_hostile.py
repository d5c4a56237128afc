"""Hostile images: each is one clear error line, a non-zero exit, and nothing written.

Run through the real command (``hullcheck.cli.main.main``) as a user would.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.errors import UnsafeLayer
from hullcheck.filetree.tar import normalise, read_tar
from hullcheck.image.writer import ImageBuilder, compress, layer_tar, write_oci_layout
from tests.fixtures import hostile


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("hullcheck: error:")]
    assert len(lines) == 1, err
    return lines[0]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "traversal": (hostile.traversal, r"escapes the image root"),
    "absolute": (hostile.absolute, r"absolute path '/etc/cron.d/evil'"),
    "hardlink-escape": (hostile.hardlink_escape, r"hard link /etc/shadow-copy.*escapes"),
    "non-json-manifest": (hostile.non_json_manifest, r"not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_image_is_one_error_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, pattern = CASES[case]
    (tmp_path / "in").mkdir()
    ref = make(tmp_path / "in")
    before = files_under(tmp_path)
    out_file = tmp_path / "sbom.json"
    code, out, err = run_cli(["sbom", ref, "-o", "json", "--file", str(out_file)], capsys)
    assert code == 2
    assert out == ""
    import re

    assert re.search(pattern, error_line(err)), err
    assert "Traceback" not in err
    assert files_under(tmp_path) == before  # not even the output file
    assert not Path("/tmp/hullcheck-pwned").exists()


def test_layer_digest_mismatch_names_the_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = ImageBuilder().add_layer(hostile.OS_RELEASE).add_layer({"app": "good"})
    img = b.build()
    write_oci_layout(tmp_path / "oci", [(img, "t")])
    bad = img.layers[1]
    tampered = compress(layer_tar({"app": "evil"}), "gzip")
    (tmp_path / "oci/blobs/sha256" / bad.digest.split(":")[1]).write_bytes(tampered)
    code, _, err = run_cli(["sbom", f"oci:{tmp_path / 'oci'}", "-o", "json"], capsys)
    assert code == 2
    line = error_line(err)
    assert bad.digest in line and ("hashes to" in line or "size" in line or "truncated" in line)


def test_truncated_layer_with_its_original_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = ImageBuilder().add_layer(hostile.OS_RELEASE).add_layer({"a": "x" * 5000}).build()
    write_oci_layout(tmp_path / "oci", [(img, "t")])
    blob = tmp_path / "oci/blobs/sha256" / img.layers[1].digest.split(":")[1]
    blob.write_bytes(blob.read_bytes()[:40])
    code, _, err = run_cli(["sbom", f"oci:{tmp_path / 'oci'}", "-o", "json"], capsys)
    assert code == 2
    assert img.layers[1].digest in error_line(err)


def test_truncated_gzip_stream_whose_digest_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The manifest describes the truncated bytes honestly: only decompression can tell.
    whole = compress(layer_tar({"a": bytes(range(256)) * 200}), "gzip")
    ref = hostile.raw_layer_image(tmp_path, whole[: len(whole) // 2])
    code, _, err = run_cli(["sbom", ref, "-o", "json"], capsys)
    assert code == 2
    line = error_line(err)
    assert "layer 1" in line and ("corrupt" in line or "truncated" in line)


def test_missing_blob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = ImageBuilder().add_layer(hostile.OS_RELEASE).build()
    write_oci_layout(tmp_path / "oci", [(img, "t")])
    (tmp_path / "oci/blobs/sha256" / img.layers[0].digest.split(":")[1]).unlink()
    code, _, err = run_cli(["sbom", f"oci:{tmp_path / 'oci'}"], capsys)
    assert code == 2
    assert "blob missing" in error_line(err) and img.layers[0].digest in err


def test_wrong_config_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = ImageBuilder().add_layer(hostile.OS_RELEASE).build()
    write_oci_layout(tmp_path / "oci", [(img, "t")])
    cfg = tmp_path / "oci/blobs/sha256" / img.config_digest.split(":")[1]
    doc = json.loads(cfg.read_bytes())
    doc["config"]["User"] = "root"
    cfg.write_text(json.dumps(doc))
    code, _, err = run_cli(["sbom", f"oci:{tmp_path / 'oci'}"], capsys)
    assert code == 2
    assert "config " + img.config_digest in error_line(err)


def test_gzip_bomb_is_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = Path(tmp_path_factory.getbasetemp()) / "bombs"
    blob = hostile.gzip_bomb_blob(cache)
    assert len(blob) < 2 << 20  # ~1 MB on disk...
    ref = hostile.raw_layer_image(tmp_path, blob)
    code, _, err = run_cli(["sbom", ref, "-o", "json"], capsys)
    assert code == 2
    assert "decompression bomb" in error_line(err)  # ...over 1 GiB unpacked


def test_not_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00garbage" * 100)
    code, _, err = run_cli(["sbom", f"docker-archive:{junk}"], capsys)
    assert code == 2
    assert str(junk) in error_line(err)


# In-process, one layer's tar read into its index: the paths and targets a hostile layer
# names, each refused with its own line or made into the one path it means.

def _pax_layer(kind: bytes, pax: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("ok")
        info.type = kind
        info.pax_headers = pax
        tf.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


def test_a_nul_in_a_layer_path_is_one_named_error() -> None:
    data = _pax_layer(tarfile.REGTYPE, {"path": "etc/a\x00b"})
    with pytest.raises(UnsafeLayer) as caught:
        read_tar(iter([data]), index=0, what="layer 0", wanted=None)
    assert str(caught.value) == "layer 0: NUL byte in path 'etc/a\\x00b'"


def test_a_nul_in_a_symlink_target_is_one_named_error() -> None:
    data = _pax_layer(tarfile.SYMTYPE, {"linkpath": "etc/a\x00b"})
    with pytest.raises(UnsafeLayer) as caught:
        read_tar(iter([data]), index=0, what="layer 0", wanted=None)
    assert str(caught.value) == "layer 0: NUL byte in the target of symlink '/ok'"


@pytest.mark.parametrize(("name", "path"), [
    ("a//b", "/a/b"), ("a/./b", "/a/b"), ("./a/b/", "/a/b"), ("a/../b//c", "/b/c"),
    ("a/.//b/.", "/a/b"), ("a/b", "/a/b"),
])
def test_a_layer_path_is_made_plain(name: str, path: str) -> None:
    assert normalise(name, what="layer 0") == path
    data = _pax_layer(tarfile.REGTYPE, {"path": name})
    index = read_tar(iter([data]), index=0, what="layer 0", wanted=None)
    assert [index.path(row) for row in range(len(index.names))] == [path]
