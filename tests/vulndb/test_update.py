"""update() against a local HTTP server with ETags; source lists; db_path resolution."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hullcheck.errors import DatabaseError, UsageError
from hullcheck.vulndb import (
    FetchState,
    Source,
    SourceKind,
    VulnStore,
    db_path,
    parse_sources,
    resolve_sources,
    update,
)
from hullcheck.vulndb.update import DEFAULT_SOURCES
from tests.vulndb.conftest import FIXTURES


class Feed:
    """Files served at /<name>, with strong ETags; ``fail`` names paths that answer 500."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail: set[str] = set()
        self.log: list[tuple[str, int]] = []


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.files.get(self.path)
            if self.path in state.fail:
                code, body = 500, b"boom"
            elif body is None:
                code, body = 404, b"not found"
            else:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                code = 304 if self.headers.get("If-None-Match") == etag else 200
            state.log.append((self.path, code))
            self.send_response(code)
            if code in (200, 304):
                self.send_header("ETag", etag)
            if code == 304:
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _serve_fixtures(state: Feed, base: str) -> list[Source]:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((FIXTURES / "osv" / "pypa").glob("*.json")):
            zf.write(f, f.name)
    state.files["/PyPI/all.zip"] = buf.getvalue()
    state.files["/tracker/data/json"] = (
        FIXTURES / "distro" / "debian-tracker-json-sample.json"
    ).read_bytes()
    state.files["/v3.5/community.json"] = (
        FIXTURES / "distro" / "alpine" / "v3.5" / "community.json"
    ).read_bytes()
    state.files["/kev.json"] = (
        FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
    ).read_bytes()
    return [
        Source(name="debian-tracker", kind=SourceKind.DEBIAN, locations=(f"{base}/tracker/data/json",)),
        Source(name="alpine-secdb", kind=SourceKind.ALPINE, locations=(f"{base}/v3.5/community.json",)),
        Source(name="osv-PyPI", kind=SourceKind.OSV, locations=(f"{base}/PyPI/all.zip",)),
        Source(name="cisa-kev", kind=SourceKind.KEV, locations=(f"{base}/kev.json",)),
    ]


def test_update_downloads_then_skips_unchanged(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    sources = _serve_fixtures(state, base)
    db = tmp_path / "vuln.db"
    with httpx.Client() as http:
        first = update(db, sources, http=http)
        assert first.rebuilt and first.downloaded == 4 and first.not_modified == 0
        assert first.build is not None and first.build.kev == 5
        with VulnStore.open(db) as store:
            assert [r.advisory_id for r in store.lookup("PyPI", "requests")] == ["PYSEC-2018-28"]
            etags = {s.name: s.fetched[0].etag for s in store.status().sources}
        assert all(e.startswith('"') for e in etags.values())
        before = db.read_bytes()
        state.log.clear()

        second = update(db, sources, http=http)
        assert not second.rebuilt and second.build is None
        assert {f.state for f in second.fetches} == {FetchState.NOT_MODIFIED}
        assert sorted(code for _, code in state.log) == [304, 304, 304, 304]
        assert db.read_bytes() == before

        # One source changes: only it is downloaded, and the database is rebuilt.
        state.files["/kev.json"] = state.files["/kev.json"].replace(b"2021-12-10", b"2021-12-11")
        third = update(db, sources, http=http)
        assert third.rebuilt and third.downloaded == 1 and third.not_modified == 3
        with VulnStore.open(db) as store:
            entry = store.kev("CVE-2021-44228")
            assert entry is not None and entry.date_added == "2021-12-11"


def test_source_failing_mid_update_leaves_the_old_database(
    feed: tuple[Feed, str], tmp_path: Path
) -> None:
    state, base = feed
    sources = _serve_fixtures(state, base)
    db = tmp_path / "vuln.db"
    with httpx.Client() as http:
        update(db, sources, http=http)
        before = db.read_bytes()
        state.files["/tracker/data/json"] = b"{}"  # changed, downloaded first...
        state.fail.add("/PyPI/all.zip")  # ...then this one breaks
        with pytest.raises(DatabaseError, match=r"source osv-PyPI: GET .*/PyPI/all.zip returned "
                                                  r"HTTP 500") as exc:
            update(db, sources, http=http)
        assert "previous database is unchanged" in exc.value.hint
    assert db.read_bytes() == before
    with VulnStore.open(db) as store:
        assert store.lookup("Debian:10", "chromium") != ()
    assert not [p for p in db.parent.rglob("*") if ".tmp-" in p.name]


def test_missing_source_is_a_clear_error(feed: tuple[Feed, str], tmp_path: Path) -> None:
    _, base = feed
    sources = [Source(name="osv-Nope", kind=SourceKind.OSV, locations=(f"{base}/Nope/all.zip",))]
    with httpx.Client() as http, pytest.raises(DatabaseError, match="returned HTTP 404"):
        update(tmp_path / "vuln.db", sources, http=http)
    assert not (tmp_path / "vuln.db").exists()


def test_default_sources_are_the_public_feeds() -> None:
    names = [s.name for s in DEFAULT_SOURCES]
    assert names[0] == "debian-tracker" and "osv-PyPI" in names and "cisa-kev" in names
    urls = {s.name: s.locations[0] for s in DEFAULT_SOURCES}
    assert urls["osv-crates.io"] == (
        "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip"
    )
    assert urls["debian-tracker"] == "https://security-tracker.debian.org/tracker/data/json"


def test_sources_from_env_inline_and_file(tmp_path: Path) -> None:
    assert resolve_sources({}) == DEFAULT_SOURCES
    got = resolve_sources({"HULLCHECK_DB_SOURCES":
                           "osv:http://127.0.0.1:8000/PyPI/all.zip; mykev=kev:/data/kev.json"})
    assert [(s.name, s.kind, s.locations) for s in got] == [
        ("osv-PyPI", SourceKind.OSV, ("http://127.0.0.1:8000/PyPI/all.zip",)),
        ("mykev", SourceKind.KEV, ("/data/kev.json",)),
    ]
    conf = tmp_path / "sources.yaml"
    conf.write_text("sources:\n  - {name: a, kind: alpine, urls: [x/main.json, x/community.json]}\n")
    (src,) = resolve_sources({"HULLCHECK_DB_SOURCES": str(conf)})
    assert src.locations == ("x/main.json", "x/community.json")
    with pytest.raises(UsageError, match="unknown kind 'rpm'"):
        parse_sources("rpm:http://127.0.0.1/x")


def test_db_path_resolution(tmp_path: Path) -> None:
    assert db_path("/x/vuln.db", env={"HULLCHECK_DB": "/y/vuln.db"}) == Path("/x/vuln.db")
    assert db_path(None, env={"HULLCHECK_DB": "/y/vuln.db"}) == Path("/y/vuln.db")
    default = db_path(None, env={})
    assert default.name == "vuln.db" and "hullcheck" in default.parts


REPOMD = """<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary"><location href="repodata/primary.xml.gz"/></data>
  <data type="updateinfo"><location href="repodata/abc-updateinfo.xml.gz"/></data>
</repomd>
"""


def test_amazon_alas_found_through_the_mirror_list(feed: tuple[Feed, str], tmp_path: Path) -> None:
    """A ``yum:`` location is a mirror list: its first URL is the repository, whose
    repomd.xml names the updateinfo file, as dnf finds it (Amazon's ALAS live only there)."""
    import gzip

    state, base = feed
    repo = f"{base}/2/core/2.0/x86_64/deadbeef/"
    state.files["/2/core/latest/x86_64/mirror.list"] = f"{repo}\n".encode()
    state.files["/2/core/2.0/x86_64/deadbeef/repodata/repomd.xml"] = REPOMD.encode()
    al2 = FIXTURES.parent / "advisories" / "distro" / "amazon" / "updateinfo-al2.xml"
    state.files["/2/core/2.0/x86_64/deadbeef/repodata/abc-updateinfo.xml.gz"] = gzip.compress(
        al2.read_bytes())
    src = Source(name="amazon-alas", kind=SourceKind.ALAS,
                 locations=(f"yum:{base}/2/core/latest/x86_64/mirror.list",))
    result = update(tmp_path / "v.db", [src], cache=tmp_path / "cache")
    assert result.rebuilt and [f.state for f in result.fetches] == [FetchState.DOWNLOADED]
    with VulnStore.open(tmp_path / "v.db") as store:
        assert "Amazon Linux:2" in store.ecosystems()
    # A repository whose metadata names no updateinfo is one line.
    state.files["/2/core/2.0/x86_64/deadbeef/repodata/repomd.xml"] = REPOMD.replace(
        'type="updateinfo"', 'type="other"').encode()
    with pytest.raises(DatabaseError, match="lists no updateinfo"):
        update(tmp_path / "v2.db", [src], cache=tmp_path / "cache2")
    assert any(s.name == "amazon-alas" for s in DEFAULT_SOURCES)
