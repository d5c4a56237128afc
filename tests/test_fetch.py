"""The one bounded fetcher behind every download (advisory feeds, ``db import URL``, the
end-of-life table): real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck import fetch
from hullcheck.base import eol
from hullcheck.cli.main import main
from hullcheck.errors import DatabaseError
from tests.registry._servers import Handler, reply, serve
from tests.vulndb.conftest import FIXTURES

KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"


def broken_off(h: Handler, declared: int) -> None:
    """200 that declares ``declared`` bytes, sends ten and hangs up."""
    h.send_response(200)
    h.send_header("Content-Length", str(declared))
    h.end_headers()
    h.wfile.write(b"0123456789")
    h.wfile.flush()
    h.close_connection = True


def test_every_download_goes_through_the_one_fetcher(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """db import URL, db update and base update-eol: the same client (its User-Agent)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    agents: list[tuple[str, str]] = []

    def answer(h: Handler) -> None:
        agents.append((h.path, h.headers.get("User-Agent", "")))
        reply(h, 200, KEV.read_bytes() if h.path == "/kev.json" else eol.bundled_bytes())

    with serve(answer) as s:
        listing = tmp_path / "sources.json"
        listing.write_text(json.dumps([{"name": "kev", "kind": "kev", "url": f"{s.url}/kev.json"}]))
        assert main(["db", "import", "--db", str(tmp_path / "a.db"), f"{s.url}/kev.json"]) == 0
        assert main(["db", "update", "--db", str(tmp_path / "b.db"), "--sources", str(listing)]) == 0
        assert main(["base", "update-eol", "--eol-url", f"{s.url}/eol.json"]) == 0
    capsys.readouterr()
    assert [path for path, _ in agents] == ["/kev.json", "/kev.json", "/eol.json"]
    assert {agent for _, agent in agents} == {fetch.USER_AGENT}


def test_the_eol_table_refuses_a_declared_length_over_its_cap(tmp_path: Path) -> None:
    """Refused on the headers, before the body is read (it never comes in full here)."""
    dest = tmp_path / "eol.json"
    with serve(lambda h: broken_off(h, eol.MAX_TABLE + 1)) as s, \
            pytest.raises(DatabaseError) as info:
        eol.update(f"{s.url}/eol.json", dest=dest)
    assert str(info.value) == (f"{s.url}/eol.json is too large ({eol.MAX_TABLE + 1} bytes, "
                               f"over the {eol.MAX_TABLE}-byte limit)")
    assert not dest.exists()


def test_a_body_that_breaks_off_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "feed.json"
    with serve(lambda h: broken_off(h, 1000)) as s, pytest.raises(DatabaseError) as info:
        fetch.to_file(f"{s.url}/feed.json", dest, limit=1 << 20, error=DatabaseError,
                      what="source feed", hint="try again")
    assert str(info.value).startswith(f"source feed: GET {s.url}/feed.json: ")
    assert info.value.hint == "try again"
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_a_conditional_get_answered_not_modified_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "feed.json"
    dest.write_bytes(b"before")
    seen: list[str | None] = []

    def answer(h: Handler) -> None:
        seen.append(h.headers.get("If-None-Match"))
        reply(h, 304)

    with serve(answer) as s:
        got = fetch.to_file(f"{s.url}/feed.json", dest, limit=100, error=DatabaseError,
                            etag='"v1"')
    assert got == fetch.Fetched(modified=False) and seen == ['"v1"']
    assert dest.read_bytes() == b"before" and list(tmp_path.iterdir()) == [dest]


def test_a_status_other_than_ok_is_the_callers_error(tmp_path: Path) -> None:
    with serve(lambda h: reply(h, 304)) as s, pytest.raises(DatabaseError, match="HTTP 304"):
        fetch.to_bytes(f"{s.url}/x.json", limit=100, error=DatabaseError)  # 304 unasked for
