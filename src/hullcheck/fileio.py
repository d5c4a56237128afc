"""Writing files so that a reader (or a crash) never sees half of one."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

_ATTEMPTS = 100  # random names tried before giving up (as tempfile does)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``: the old
    content stays until the new one is complete, and a failure leaves no temporary file.

    The file gets the mode ``open(path, "w")`` would give it: a new file 0o666 less the
    umask (0644 under 022), applied by the kernel; a regular file it replaces keeps its
    permission bits (as shell redirection, ``cp`` and Go's ``os.Create`` keep them), so an
    output the user made private stays private. Key files are not written here: they are
    created 0600 by ``sign.keys``."""
    directory = path.parent if str(path.parent) else Path(".")
    kept = _kept_mode(path)
    fd, tmp = _create_beside(directory, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            if kept is not None:
                os.fchmod(f.fileno(), kept)  # before any byte is written
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_output(path: Path, data: bytes) -> None:
    """A command's output written to ``path``: through ``atomic_write``, unless ``path`` is a
    FIFO, a device or a name under /dev or /proc (``/dev/null``, ``/dev/stdout``), written
    to as it is: a rename there would replace the node itself (as root, ``--file /dev/null``
    made /dev/null a regular file for the whole machine)."""
    if written_in_place(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    atomic_write(path, data)


def written_in_place(path: Path) -> bool:
    """Whether ``write_output`` writes ``path`` as it is rather than renaming over it."""
    if str(path.absolute()).startswith(("/dev/", "/proc/")):
        return True  # /dev/stdout -> /proc/self/fd/1 may lead to a regular file
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def _kept_mode(path: Path) -> int | None:
    """The permission bits of the regular file at ``path`` (never set-id bits), if any."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) & 0o777 if stat.S_ISREG(st.st_mode) else None


def _create_beside(directory: Path, name: str) -> tuple[int, Path]:
    """A new, empty ``.NAME.<random>`` file created with mode 0o666 less the umask.

    Hand-written because ``tempfile.mkstemp`` always creates 0600 and takes no mode; asking
    the kernel to apply the umask avoids reading it with ``os.umask`` (set twice: racy in
    threads)."""
    for _ in range(_ATTEMPTS):
        tmp = directory / f".{name}.{secrets.token_hex(6)}"
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: no free temporary name for {name}")
