"""Progress bars go to standard error when it is a terminal, and --quiet silences them."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

EXE = str(Path(sys.executable).with_name("hullcheck"))


def _stderr_on_a_terminal(argv: list[str]) -> tuple[int, bytes, bytes]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([EXE, *argv], stdout=subprocess.PIPE, stderr=slave,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
    os.close(slave)
    err = b""
    out = proc.stdout.read() if proc.stdout else b""
    code = proc.wait()
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    return code, out, err


def test_progress_on_a_terminal_and_quiet(make_image: Callable[..., str]) -> None:
    ref = make_image({"etc/os-release": "ID=debian\nVERSION_ID=12\n"}, {"srv/x": "1"})
    code, out, err = _stderr_on_a_terminal(["sbom", ref, "-o", "json"])
    assert code == 0 and out.startswith(b"{")  # JSON on stdout, untouched by the bar
    assert b"reading layers" in err
    code, out, err = _stderr_on_a_terminal(["sbom", ref, "-o", "json", "--quiet"])
    assert code == 0 and out.startswith(b"{")
    assert err == b""
