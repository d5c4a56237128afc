"""``hullcheck serve admission`` in this process: each flag, file and port it refuses gives one
line and exit 2 before anything listens; a webhook that starts drops the environment's registry
credentials, logs its decisions as JSON lines and leaves on SIGTERM with exit 0."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.server.wire import Tls, answer, pod, post, review

POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {name: cluster}
rules:
  - id: anything
    type: cel
    expression: "true"
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "admission.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def decision_log() -> Iterator[logging.Logger]:
    """The logger serve admission configures, left as it was found."""
    logger = logging.getLogger("hullcheck.admission")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


def serve(tls: Tls, policy: Path, *extra: str) -> list[str]:
    return ["serve", "admission", "--policy", str(policy), "--tls-cert", str(tls[0]),
            "--tls-key", str(tls[1]), "--host", "127.0.0.1", "--port", "0", *extra]


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == ""
    assert "Traceback" not in err
    assert lines and lines[0].startswith("hullcheck: error: "), err
    return lines[0]


@pytest.mark.parametrize("extra, says", [
    (["--cache-ttl", "-1"], "--cache-ttl must not be negative"),
    (["--max-connections", "0"], "--max-connections must be at least 1"),
    (["--review-timeout", "45s"], "--review-timeout 45s: must be under 30s"),
], ids=["negative-cache", "no-connections", "timeout-45s"])
def test_refused_limits(tls: Tls, policy: Path, capsys: pytest.CaptureFixture[str],
                        extra: list[str], says: str) -> None:
    assert main(serve(tls, policy, *extra)) == 2
    assert says in one_error(capsys)


def test_a_policy_that_does_not_load_names_its_line(tls: Tls, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY.replace('expression: "true"', "expression: [unclosed"))
    assert main(serve(tls, broken)) == 2
    line = one_error(capsys)
    assert str(broken) in line
    assert ":8" in line  # the line of the broken rule


def test_a_missing_policy_file(tls: Tls, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(serve(tls, tmp_path / "absent.yaml")) == 2
    assert "absent.yaml" in one_error(capsys)


@pytest.mark.parametrize("which", ["cert", "key"])
def test_a_certificate_or_key_that_is_not_pem(tls: Tls, policy: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              decision_log: logging.Logger, which: str) -> None:
    garbage = tmp_path / f"garbage.{which}"
    garbage.write_text("-----BEGIN NOTHING-----\n")
    cert, key = (garbage, tls[1]) if which == "cert" else (tls[0], garbage)
    code = main(["serve", "admission", "--policy", str(policy), "--tls-cert", str(cert),
                 "--tls-key", str(key), "--host", "127.0.0.1", "--port", "0"])
    assert code == 2
    assert "cannot load the TLS certificate" in one_error(capsys)


def test_a_port_already_taken(tls: Tls, policy: Path, capsys: pytest.CaptureFixture[str],
                              decision_log: logging.Logger) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "admission", "--policy", str(policy), "--tls-cert", str(tls[0]),
                     "--tls-key", str(tls[1]), "--host", "127.0.0.1", "--port", str(port)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_error(capsys)


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def test_runs_until_sigterm_drops_environment_credentials_and_logs_decisions(
        tls: Tls, policy: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, decision_log: logging.Logger) -> None:
    monkeypatch.setenv("HULLCHECK_REGISTRY_USERNAME", "ci")
    monkeypatch.setenv("HULLCHECK_REGISTRY_PASSWORD", "s3cret")
    port = _free_port()
    before = signal.getsignal(signal.SIGTERM)
    answers: list[dict[str, object]] = []
    env_seen: list[bool] = []

    def client() -> None:
        # serve admission installs its SIGTERM handler once it listens; wait for that (bounded).
        for _ in range(6000):
            if signal.getsignal(signal.SIGTERM) is not before:
                break
            time.sleep(0.01)
        try:
            env_seen.append("HULLCHECK_REGISTRY_PASSWORD" in os.environ)
            # Port 1 refuses connections: unreachable, so the failure policy (fail) denies.
            resp = post(f"https://127.0.0.1:{port}/validate", tls,
                        review(pod("127.0.0.1:1/shop/web:v1"), uid="in-process"))
            answers.append(answer(resp, "in-process"))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        code = main(["serve", "admission", "--policy", str(policy), "--tls-cert", str(tls[0]),
                     "--tls-key", str(tls[1]), "--host", "127.0.0.1", "--port", str(port)])
    finally:
        thread.join()
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err
    assert code == 0
    assert env_seen == [False]  # removed from the process, so no helper it runs sees them
    assert "ignoring HULLCHECK_REGISTRY_USERNAME and HULLCHECK_REGISTRY_PASSWORD" in err
    assert "s3cret" not in err
    assert f"policy 'cluster' on https://127.0.0.1:{port}/validate" in err
    assert "failure policy fail, review timeout 8s, 16 reviews at once, cache 300s" in err
    assert [a["allowed"] for a in answers] == [False]
    decisions = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(d["event"], d["uid"], d["allowed"]) for d in decisions] == [
        ("decision", "in-process", False)]
