"""``hullcheck worker``: a bad config or option is one line and exit 2; SIGTERM stops it
cleanly (exit 0) after it started, in SQLite mode and on the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hullcheck.cli.main import main

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(("config", "argv", "message"), [
    ("alerts: [{name: a, when: nope, channels: [x]}]\n", [],
     r"monitor.yaml:1: alerts\[0\].when: unknown event 'nope'"),
    ("", ["--threads", "0"], "--threads must be between 1 and 64"),
    ("", ["--lease", "0.5s"], "--lease and --delivery-lease must be at least 1s"),
    ("", ["--database-url", "mysql://x/y"], "database URL scheme 'mysql' is not supported"),
])
def test_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str,
                               argv: list[str], message: str) -> None:
    (tmp_path / "monitor.yaml").write_text(config)
    code = main(["worker", "--data-dir", str(tmp_path / "data"), "--config",
                 str(tmp_path / "monitor.yaml"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hullcheck: error: ") and len(err.splitlines()) == 2, err
    import re

    assert re.search(message, err.splitlines()[0]), err


def test_sigterm_stops_the_worker(tmp_path: Path, database_url: str | None) -> None:
    argv = [sys.executable, "-m", "hullcheck", "worker", "--data-dir", str(tmp_path / "data")]
    if database_url:
        argv += ["--database-url", database_url]
    process = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": str(SRC)},
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()  # printed once the store is open and migrated
    assert "hullcheck worker" in first and ("sqlite mode" in first or "postgresql mode" in first)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, process.stderr.read()
