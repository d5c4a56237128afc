"""Files hullcheck writes get the mode any tool's ``open()`` would give them; keys stay 0600."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.fileio import atomic_write
from tests.fixtures.images import build, write


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process umask a test sets (tests run in one thread)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_the_umask_mode(tmp_path: Path, umask: None, mask: int,
                                      expected: int) -> None:
    os.umask(mask)
    atomic_write(tmp_path / "out.json", b"{}")
    assert _mode(tmp_path / "out.json") == expected
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_replaced_file_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    private, shared = tmp_path / "private.json", tmp_path / "shared.json"
    private.write_bytes(b"old")
    private.chmod(0o600)
    shared.write_bytes(b"old")
    shared.chmod(0o664)
    for path in (private, shared):
        atomic_write(path, b"new")
        assert path.read_bytes() == b"new"
    assert (_mode(private), _mode(shared)) == (0o600, 0o664)


def test_set_id_bits_are_not_carried_over(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "tool"
    path.write_bytes(b"old")
    path.chmod(0o4755)
    atomic_write(path, b"new")
    assert _mode(path) == 0o755


def test_a_symlink_is_replaced_not_followed(tmp_path: Path, umask: None) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    target.chmod(0o600)
    (tmp_path / "link").symlink_to(target)
    atomic_write(tmp_path / "link", b"new")
    assert target.read_bytes() == b"keep"
    assert not (tmp_path / "link").is_symlink() and _mode(tmp_path / "link") == 0o644


def test_failed_write_leaves_no_temporary_file(tmp_path: Path, umask: None) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "dir", b"x")  # the rename over a directory fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_cli_file_output_is_0644_and_keys_0600(tmp_path: Path, umask: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ref = write(build({"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n"}), tmp_path)
    out = tmp_path / "sbom.json"
    assert main(["sbom", ref, "-o", "json", "-q", "--file", str(out)]) == 0
    assert out.stat().st_size > 0 and _mode(out) == 0o644
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    os.umask(0)  # even with nothing masked, the private key is 0600
    assert main(["key", "generate", "--output-prefix", str(tmp_path / "k")]) == 0
    assert _mode(tmp_path / "k.key") == 0o600
    assert _mode(tmp_path / "k.pub") == 0o644


def test_cli_output_to_a_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    """``--file`` naming a FIFO (or /dev/null, /dev/stdout) writes into it: a rename over it
    would replace the node with a regular file (as root, /dev/null for the whole machine)."""
    import stat

    ref = write(build({"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n"}), tmp_path)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # The read end opened first (without blocking), so the command's open never waits; the
    # document fits in the pipe's buffer and is read once the command is done.
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main(["sbom", ref, "-o", "json", "-q", "--file", str(fifo)]) == 0
        got = b""
        while chunk := os.read(rfd, 1 << 16):
            got += chunk
    finally:
        os.close(rfd)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert b'"packages"' in got
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.fifo")]


@pytest.mark.parametrize("name", ["/dev/null", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/2"])
def test_device_and_proc_names_are_written_in_place(name: str) -> None:
    from hullcheck.fileio import written_in_place

    assert written_in_place(Path(name))


def test_regular_files_and_new_names_are_renamed_over(tmp_path: Path) -> None:
    from hullcheck.fileio import written_in_place

    (tmp_path / "old.json").write_bytes(b"{}")
    assert not written_in_place(tmp_path / "old.json")
    assert not written_in_place(tmp_path / "new.json")
