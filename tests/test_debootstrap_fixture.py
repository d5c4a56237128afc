"""The debootstrap fixture fails loudly, like every tool fixture (tests/fixtures/tools.py):
not root, no debootstrap, a build that fails. It once skipped instead, and a PATH without
/usr/sbin turned four tests into a green "skipped". The failure is checked as what the
fixture raises (a skip is an exception too, so it would not pass for a failure here)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import debootstrap


def outcome(fn: Callable[[], object]) -> BaseException:
    """What ``fn`` raised (pytest's skip and fail are BaseExceptions)."""
    try:
        fn()
    except BaseException as exc:  # the point is to see which one
        return exc
    raise AssertionError(f"{fn.__name__} returned")


def failed(fn: Callable[[], object]) -> str:
    """The message of the test failure ``fn`` raised; an AssertionError for anything else."""
    exc = outcome(fn)
    assert isinstance(exc, pytest.fail.Exception), f"not a failure: {exc!r}"
    return str(exc)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty fixture cache root (HULLCHECK_TEST_CACHE): the fixture must build."""
    monkeypatch.setenv("HULLCHECK_TEST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_not_root_fails_and_says_how_to_build(empty_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    message = failed(debootstrap.debootstrap_rootfs)
    assert "building it needs root" in message and str(empty_cache) in message
    assert "python -m tests.fixtures.debootstrap" in message


def test_no_debootstrap_fails_naming_the_debian_package(
        empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = tmp_path / "empty-bin"
    nowhere.mkdir()
    monkeypatch.setenv("PATH", str(nowhere))
    monkeypatch.setattr(debootstrap, "SBIN", str(nowhere))
    message = failed(debootstrap.debootstrap_rootfs)
    assert message.startswith("debootstrap is not installed (Debian package debootstrap")
    assert not empty_cache.exists()  # nothing was started


def test_debootstrap_is_found_without_sbin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case that once skipped: installed in /usr/sbin, which PATH lacks."""
    assert Path("/usr/sbin/debootstrap").is_file(), "scripts/setup-system.sh installs it"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert debootstrap.debootstrap_command() == "/usr/sbin/debootstrap"


class _NoArchive(BaseHTTPRequestHandler):
    """A mirror that has nothing: every path is a 404 (and counted)."""

    asked: list[str]

    def do_GET(self) -> None:  # http.server's naming
        type(self).asked.append(self.path)
        self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def empty_mirror() -> Iterator[tuple[str, list[str]]]:
    """(URL, paths asked) of a real HTTP server on 127.0.0.1 that serves no archive."""
    asked: list[str] = []
    handler = type("Handler", (_NoArchive,), {"asked": asked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian", asked
    server.shutdown()
    server.server_close()


def test_a_failed_build_fails_with_debootstraps_words(
        empty_cache: Path, empty_mirror: tuple[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real debootstrap, run against a mirror without the suite: the test fails with
    the mirror and debootstrap's own message, and no half-built tree is left behind."""
    url, asked = empty_mirror
    monkeypatch.setattr(debootstrap, "apt_mirror", lambda: url)
    message = failed(debootstrap.debootstrap_rootfs)
    assert message.startswith(f"debootstrap failed (1; mirror {url}): ")
    assert "Failed getting release file" in message
    assert any(path.startswith(f"/debian/dists/{debootstrap.SUITE}/") for path in asked)
    # Neither a cache (which would pass for complete) nor the work directory: the lock only.
    assert sorted(os.listdir(empty_cache)) == [f"{debootstrap.cache_dir().name}.lock"]
