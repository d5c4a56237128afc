"""`make demo` on a terminal: it prints the pages' URL and an admin token, the pages answer
there while it waits, and Ctrl-C ends it cleanly (exit 0). Run under a real pseudo-terminal
(``pty``), as a person's terminal would."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.pages.support import login

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_make_demo_keeps_the_pages_up_on_a_terminal_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("HULLCHECK_TOKEN", None)
    main_fd, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(DEMO)], cwd=tmp_path, env=env,
                            stdin=terminal, stdout=terminal, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    try:
        seen = []
        assert proc.stderr is not None
        for line in proc.stderr:  # ends only if the demo exits before it waits
            seen.append(line)
            if "serving until interrupted" in line:
                break
        text = "".join(seen)
        found = re.search(r"== the pages: (http://127\.0\.0\.1:\d+)/ \(sign in with the admin "
                          r"token (hc_\S+)\)", text)
        assert found is not None, text[-3000:]
        assert "serving until interrupted" in text, text[-3000:]
        with httpx.Client(base_url=found.group(1), timeout=60) as browser:
            assert login(browser, found.group(2)).status_code == 303
            fleet = browser.get("/")
            assert fleet.status_code == 200 and "hullcheck-demo" in fleet.text
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main_fd)
