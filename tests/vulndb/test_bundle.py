"""export / import_bundle: round trip, sha256 verification, hostile bundles."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from hullcheck.errors import FormatError, VerificationError
from hullcheck.vulndb import VulnStore, build, export, import_bundle
from tests.vulndb.conftest import fixture_sources


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.gz"])
def test_round_trip(fixture_db: Path, tmp_path: Path, suffix: str) -> None:
    bundle = tmp_path / f"vuln{suffix}"
    out = export(fixture_db, bundle)
    assert out.advisories > 0 and len(out.sha256) == 64
    target = tmp_path / "other" / "vuln.db"
    got = import_bundle(bundle, target)
    assert got.sha256 == out.sha256 and got.advisories == out.advisories
    assert target.read_bytes() == fixture_db.read_bytes()
    with VulnStore.open(target) as store:
        assert [r.advisory_id for r in store.lookup("PyPI", "requests")] == ["PYSEC-2018-28"]


def _tamper(bundle: Path, dest: Path, *, db: bytes | None = None, extra: str = "") -> Path:
    with tarfile.open(bundle, "r:gz") as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf}  # type: ignore[union-attr]
    if db is not None:
        members["vuln.db"] = db
    with tarfile.open(dest, "w:gz") as tf:
        for name, data in [("manifest.json", members["manifest.json"]),
                           *([(extra, b"x")] if extra else []), ("vuln.db", members["vuln.db"])]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return dest


def test_tampered_database_is_refused_and_old_kept(fixture_db: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "vuln.tar.gz"
    export(fixture_db, bundle)
    target = tmp_path / "vuln.db"
    build(target, [s for s in fixture_sources() if s.name == "cisa-kev"])
    before = target.read_bytes()
    original = fixture_db.read_bytes()
    flipped = original[:-1] + bytes([original[-1] ^ 1])
    bad = _tamper(bundle, tmp_path / "bad.tar.gz", db=flipped)
    with pytest.raises(VerificationError, match="does not match the manifest"):
        import_bundle(bad, target)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_unexpected_member_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "vuln.tar.gz"
    export(fixture_db, bundle)
    bad = _tamper(bundle, tmp_path / "bad.tar.gz", extra="../evil")
    with pytest.raises(FormatError, match=r"unexpected bundle member '\.\./evil'"):
        import_bundle(bad, tmp_path / "vuln.db")
    assert not (tmp_path.parent / "evil").exists() and not (tmp_path / "vuln.db").exists()


def test_not_a_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "x.tar.gz"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(FormatError, match="not a database bundle"):
        import_bundle(junk, tmp_path / "vuln.db")
    manifest_only = tmp_path / "m.tar.gz"
    with tarfile.open(manifest_only, "w:gz") as tf:
        data = json.dumps({"format": "something-else"}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(FormatError, match="not a hullcheck database bundle"):
        import_bundle(manifest_only, tmp_path / "vuln.db")
