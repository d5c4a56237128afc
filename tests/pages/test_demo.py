"""`make demo` on a terminal: it prints the pages' URL and an admin token, the pages answer
there while it waits, and Ctrl-C ends it cleanly (exit 0). Run under a real pseudo-terminal
(``pty``), as a person's terminal would."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx

from tests.pages.support import login

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
# Bounds on waits for the demo (it builds, scans and runs the monitor first): generous, since
# a loaded machine is slow; what is asserted is what it printed and its exit status.
PATIENCE = 900.0


@contextlib.contextmanager
def sigint_as_on_a_terminal() -> Iterator[None]:
    """Start children with SIGINT at its default, as a terminal's foreground job has it.

    A suite started in the background by a non-interactive shell has SIGINT ignored, and an
    ignored signal stays ignored in a child: the demo's Python would then never raise
    KeyboardInterrupt at the Ctrl-C. A handled signal is reset to its default by exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def drain(stream: IO[str], lines: list[str]) -> threading.Thread:
    """Keep what the demo writes to ``stream``, read until it ends, in a thread of its own."""

    def run() -> None:
        for line in stream:
            lines.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def discard_terminal(main_fd: int) -> threading.Thread:
    """Read the terminal's output and drop it, so the demo's tables never fill the pty and
    block it; reading ends with EIO once the demo has closed its side."""

    def run() -> None:
        with contextlib.suppress(OSError):
            while os.read(main_fd, 1 << 16):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_until(what: str, done: Callable[[], bool], seen: list[str]) -> None:
    """Wait for ``done``, as scripts/demo.py waits: a bound that only stops a hung demo."""
    until = time.monotonic() + PATIENCE
    while not done():
        assert time.monotonic() < until, f"no {what}: " + "".join(seen)[-3000:]
        time.sleep(0.1)


def test_make_demo_keeps_the_pages_up_on_a_terminal_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("HULLCHECK_TOKEN", None)
    main_fd, terminal = pty.openpty()
    with sigint_as_on_a_terminal():
        proc = subprocess.Popen([sys.executable, str(DEMO)], cwd=tmp_path, env=env,
                                stdin=terminal, stdout=terminal, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    seen: list[str] = []
    assert proc.stderr is not None
    readers = [drain(proc.stderr, seen), discard_terminal(main_fd)]
    try:
        wait_until("wait for Ctrl-C", lambda: proc.poll() is not None or
                   any("serving until interrupted" in line for line in seen), seen)
        text = "".join(seen)
        assert proc.poll() is None, text[-3000:]  # it waits, on a terminal
        found = re.search(r"== the pages: (http://127\.0\.0\.1:\d+)/ \(sign in with the admin "
                          r"token (hc_\S+)\)", text)
        assert found is not None, text[-3000:]
        with httpx.Client(base_url=found.group(1), timeout=60) as browser:
            assert login(browser, found.group(2)).status_code == 303
            fleet = browser.get("/")
            assert fleet.status_code == 200 and "hullcheck-demo" in fleet.text
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        wait_until("exit after Ctrl-C", lambda: proc.poll() is not None, seen)
        assert proc.returncode == 0, "".join(seen)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for reader in readers:
            reader.join(timeout=60)  # daemon threads: a stray holder of a pipe cannot hang the test
        os.close(main_fd)
