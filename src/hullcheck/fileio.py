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
