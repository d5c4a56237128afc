"""`hullcheck db` as a user runs it: import of every kind (detected), status, bundles, update
against a local server, hostile input leaving the previous database intact."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from hullcheck.vulndb import SCHEMA_VERSION
from tests.match.support import dist_info
from tests.vulndb.conftest import FIXTURES
from tests.vulndb.test_update import Feed, _serve_fixtures, feed  # noqa: F401

PYPA = FIXTURES / "osv" / "pypa"
TRACKER = FIXTURES / "distro" / "debian-tracker-json-sample.json"
KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
ALPINE = FIXTURES / "distro" / "alpine" / "v3.5" / "community.json"


def db(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["db", *args])
    out, err = capsys.readouterr()
    return code, out, err


def status(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, out, err = db(capsys, "status", "--db", str(path), "-o", "json")
    assert code == 0, err
    return json.loads(out)


def zip_of(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.glob("*.json")):
            zf.write(f, f.name)
    return dest


def tarball_of(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for f in sorted(src.glob("*.json")):
            tf.add(f, f"{src.name}/{f.name}")
    return dest


def test_import_every_kind_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vuln.db"
    go_zip = zip_of(FIXTURES / "osv" / "go", tmp_path / "all.zip")
    rust_tgz = tarball_of(FIXTURES / "osv" / "rustsec", tmp_path / "rustsec.tar.gz")
    code, _, err = db(capsys, "import", "--db", str(path), str(PYPA), str(go_zip), str(rust_tgz),
                      str(TRACKER), str(KEV), str(ALPINE))
    assert code == 0, err
    doc = status(capsys, path)
    kinds = {s["name"]: s["kind"] for s in doc["sources"]}
    assert sorted(kinds.values()) == ["alpine", "debian", "kev", "osv", "osv", "osv"]
    assert len(kinds) == 6  # unique names
    records = {s["name"]: s["records"] for s in doc["sources"]}
    assert records[next(n for n, k in kinds.items() if k == "kev")] == 5
    assert doc["kev"] == 5 and doc["schemaVersion"] == SCHEMA_VERSION and doc["builtAt"]
    assert doc["ecosystems"]["PyPI"] >= 5 and doc["ecosystems"]["Go"] >= 2
    assert doc["ecosystems"]["crates.io"] >= 2 and doc["ecosystems"]["Debian:12"] >= 2
    # the table form says the same
    code, out, _ = db(capsys, "status", "--db", str(path))
    assert code == 0 and f"schema     {SCHEMA_VERSION}" in out and "5 KEV entries" in out


def test_same_kind_paths_get_unique_names(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vuln.db"
    a = shutil.copytree(FIXTURES / "osv" / "go", tmp_path / "a" / "osv")
    b = shutil.copytree(FIXTURES / "osv" / "rustsec", tmp_path / "b" / "osv")
    za = zip_of(FIXTURES / "osv" / "go", tmp_path / "PyPI-all.zip")
    (tmp_path / "npm").mkdir()
    zb = zip_of(FIXTURES / "osv" / "malicious" / "npm", tmp_path / "npm" / "all.zip")
    code, _, err = db(capsys, "import", "--db", str(path), str(a), str(b), str(za), str(zb))
    assert code == 0, err
    names = [s["name"] for s in status(capsys, path)["sources"]]
    assert len(names) == len(set(names)) == 4
    # importing again the same paths replaces those sources instead of adding copies
    code, _, err = db(capsys, "import", "--db", str(path), str(a), str(b))
    assert code == 0, err
    again = [s["name"] for s in status(capsys, path)["sources"]]
    assert sorted(again) == sorted(names)
    # --name with several paths numbers them
    code, _, err = db(capsys, "import", "--db", str(path), "--replace", "--name", "mine",
                      str(a), str(b))
    assert code == 0, err
    assert [s["name"] for s in status(capsys, path)["sources"]] == ["mine-1", "mine-2"]


def test_import_adds_to_existing_sources(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vuln.db"
    assert db(capsys, "import", "--db", str(path), str(PYPA))[0] == 0
    assert db(capsys, "import", "--db", str(path), str(KEV))[0] == 0
    doc = status(capsys, path)
    assert sorted(s["kind"] for s in doc["sources"]) == ["kev", "osv"]
    assert db(capsys, "import", "--db", str(path), "--replace", str(KEV))[0] == 0
    assert [s["kind"] for s in status(capsys, path)["sources"]] == ["kev"]


def test_export_import_bundle_round_trip(tmp_path: Path, make_image: Callable[..., str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vuln.db"
    assert db(capsys, "import", "--db", str(path), str(PYPA), str(KEV))[0] == 0
    bundle = tmp_path / "vuln.tar.gz"
    code, _, err = db(capsys, "export", "--db", str(path), str(bundle))
    assert code == 0 and "sha256" in err
    other = tmp_path / "airgap" / "vuln.db"
    code, _, err = db(capsys, "import", "--db", str(other), str(bundle))
    assert code == 0, err
    assert "sha256 verified" in err
    a, b = status(capsys, path), status(capsys, other)
    assert (a["advisories"], a["kev"], a["ecosystems"]) == (b["advisories"], b["kev"],
                                                            b["ecosystems"])
    ref = make_image(dist_info("requests", "2.19.0"))
    assert main(["scan", ref, "--db", str(other), "-o", "json"]) == 0
    assert "CVE-2018-18074" in capsys.readouterr()[0]
    # a tampered bundle is refused and the database stays as it was
    raw = bytearray(bundle.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(raw))
    before = other.read_bytes()
    code, _, err = db(capsys, "import", "--db", str(other), str(bad))
    # verification failed: exit 1, as for any artifact that does not verify
    assert code == 1 and "does not match the manifest" in err and "tampered" in err
    assert other.read_bytes() == before


def test_update_from_a_local_server(feed: tuple[Feed, str], tmp_path: Path,  # noqa: F811
                                    capsys: pytest.CaptureFixture[str]) -> None:
    state, base = feed
    sources = _serve_fixtures(state, base)
    listing = tmp_path / "sources.json"
    listing.write_text(json.dumps([{"name": s.name, "kind": s.kind.value,
                                    "urls": list(s.locations)} for s in sources]))
    path = tmp_path / "vuln.db"
    code, _, err = db(capsys, "update", "--db", str(path), "--sources", str(listing))
    assert code == 0, err
    assert "rebuilt" in err
    doc = status(capsys, path)
    assert {s["name"] for s in doc["sources"]} == {s.name for s in sources}
    fetched = [f for s in doc["sources"] for f in s["fetched"]]
    assert fetched and all(f["url"].startswith(base) and f["etag"] for f in fetched)
    built = doc["builtAt"]
    code, _, err = db(capsys, "update", "--db", str(path), "--sources", str(listing))
    assert code == 0 and "unchanged" in err
    assert status(capsys, path)["builtAt"] == built
    assert any(c == 304 for _, c in state.log)


def test_import_from_url(feed: tuple[Feed, str], tmp_path: Path,  # noqa: F811
                         capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    state, base = feed
    _serve_fixtures(state, base)
    path = tmp_path / "vuln.db"
    code, _, err = db(capsys, "import", "--db", str(path), f"{base}/PyPI/all.zip",
                      f"{base}/kev.json")
    assert code == 0, err
    names = sorted(s["name"] for s in status(capsys, path)["sources"])
    assert names == ["kev", "osv-PyPI-all"]
    code, _, err = db(capsys, "import", "--db", str(path), f"{base}/missing.zip")
    assert code == 2 and "HTTP 404" in err


def test_hostile_import_keeps_the_previous_database(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vuln.db"
    assert db(capsys, "import", "--db", str(path), str(PYPA))[0] == 0
    before = path.read_bytes()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/cron.d/x.json", b'{"id": "X-1"}')
    code, _, err = db(capsys, "import", "--db", str(path), str(evil))
    assert code == 2 and "escapes the archive root" in err
    junk = tmp_path / "junk.json"
    junk.write_text('{"id": "PYSEC-1", "affected": "everything"')
    code, _, err = db(capsys, "import", "--db", str(path), "--kind", "osv", str(junk))
    assert code == 2 and "no usable records" in err
    bomb = tmp_path / "bomb.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("big.json")
        info.size = 17 << 20  # over the 16 MiB a record file may have
        tf.addfile(info, io.BytesIO(b"\0" * info.size))
    bomb.write_bytes(buf.getvalue())
    code, _, err = db(capsys, "import", "--db", str(path), str(bomb))
    assert code == 2 and "hullcheck: error:" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("vuln.db")) == [
        "vuln.db", "vuln.db.lock"]  # no temporary files left (the writers' lock stays)
    assert status(capsys, path)["advisories"] == 5


def test_not_advisory_data_is_a_clear_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, _, err = db(capsys, "import", "--db", str(tmp_path / "v.db"), str(text))
    assert code == 2 and "not advisory data" in err
    code, _, err = db(capsys, "status", "--db", str(tmp_path / "v.db"))
    assert code == 2 and "hullcheck db update" in err
