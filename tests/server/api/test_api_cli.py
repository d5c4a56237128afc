"""The commands: ``hullcheck token`` on both backends, and ``hullcheck serve monitor`` as a
real process (API + in-process worker) that takes a scan request for an image in the real
registry, runs it, shows the findings, and leaves cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hullcheck.cli.main import main
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.registry import RunningRegistry
from tests.server.api.support import (
    URLLIB3_ADVISORY,
    URLLIB3_CVE,
    config_text,
    osv_sources,
    push_image,
    python_image,
)

STARTED = re.compile(r"hullcheck monitor: (http://127\.0\.0\.1:\d+)/api/v1 \((\w+), ([^,]+), ")


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")]
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield ["--database-url", server.url(name)]
    finally:
        server.drop_database(name)


def test_token_create_list_revoke(where: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", *where, "--name", "ci", "--scope", "write"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert re.fullmatch(r"hc_[A-Za-z0-9_-]{43}", token)
    assert "created write token 'ci'; it is shown only now" in out.err
    assert main(["token", "create", *where, "--name", "ops", "--scope", "admin", "-q"]) == 0
    capsys.readouterr()

    assert main(["token", "list", *where, "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["name"], t["scope"], t["revokedAt"]) for t in listed] == [
        ("ci", "write", None), ("ops", "admin", None)]
    assert token not in json.dumps(listed) and token[3:] not in json.dumps(listed)

    assert main(["token", "create", *where, "--name", "ci", "--scope", "read"]) == 2
    assert ("a token named 'ci' exists; revoke it or choose another name"
            in capsys.readouterr().err)
    assert main(["token", "revoke", *where, "--name", "ci"]) == 0
    assert main(["token", "revoke", *where, "--name", "ci"]) == 2
    assert "no active token named 'ci'" in capsys.readouterr().err
    assert main(["token", "list", *where, "-o", "table"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"ci\s+write\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+-\s+\d{4}-", table), table


def test_token_needs_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "list"]) == 2
    assert "--data-dir DIR or --database-url URL" in capsys.readouterr().err
    assert main(["token", "list", "--database-url", "mysql://x/y"]) == 2
    assert "database URL scheme 'mysql' is not supported" in capsys.readouterr().err


class Monitor:
    """A ``hullcheck serve monitor`` process."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.proc = subprocess.Popen([sys.executable, "-m", "hullcheck", "serve", "monitor",
                                      "--listen", "127.0.0.1:0", *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.banner = self.proc.stderr.readline()
        match = STARTED.search(self.banner)
        if match is None:
            self.proc.kill()
            raise AssertionError(f"no banner: {self.banner!r} {self.proc.stderr.read()!r}")
        self.url, self.mode, self.worker = match.groups()

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stderr is not None
        rest = self.proc.stderr.read()
        return self.proc.wait(timeout=60), rest


def wait_done(client: httpx.Client, base: str, job: dict) -> dict:
    """Poll a job until it is done or failed (the worker runs it on its own schedule; the
    limit only turns a hang into a failure)."""
    until = time.monotonic() + 120
    while time.monotonic() < until:
        info = client.get(base + job["url"]).json()
        if info["status"] in ("done", "failed"):
            return dict(info)
        time.sleep(0.1)
    raise AssertionError(f"job {job} never finished")


def test_serve_monitor_runs_the_api_and_the_worker(tmp_path: Path, where: list[str],
                                                   registry: RunningRegistry,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "data")] + (where if where[0] != "--data-dir" else [])
    assert main(["token", "create", *data, "--name", "ops", "--scope", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    config = tmp_path / "monitor.yaml"
    sources = osv_sources(tmp_path / "feed", URLLIB3_ADVISORY)
    config.write_text(config_text(registry=registry.host, sources=sources))
    digest = push_image(registry.host, "cli/web:1", python_image({"urllib3": "1.24.1"}))

    monitor = Monitor([*data, "--config", str(config)])
    try:
        assert monitor.worker == "worker in this process"
        assert monitor.mode == ("sqlite" if where[0] == "--data-dir" else "postgresql")
        with httpx.Client(base_url=monitor.url + "/api/v1", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            update = c.post("/advisories/update").json()["job"]
            assert wait_done(c, monitor.url, update)["status"] == "done"
            scan = c.post("/images", json={"reference": f"{registry.host}/cli/web:1"}).json()
            assert wait_done(c, monitor.url, scan["job"])["status"] == "done"
            image = c.get(f"/images/{digest}").json()
            assert [f["id"] for f in image["findings"]] == [URLLIB3_CVE]
            assert c.get("/images", params={"repository": f"{registry.host}/cli/web"}).json()[
                "images"][0]["status"] == "scanned"
    finally:
        code, rest = monitor.stop()
    assert code == 0, rest
    assert "Traceback" not in rest


def test_serve_monitor_refuses_bad_arguments_in_one_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    for args, message in (
        (["--listen", "localhost"], "--listen 'localhost': write HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "--listen '127.0.0.1:99999': write HOST:PORT"),
        (["--listen", "203.0.113.7:8080"], "cannot listen on 203.0.113.7:8080"),
        (["--rate-limit", "fast"], "rate limit 'fast' is not a rate"),
        (["--config", str(tmp_path / "nope.yaml")], "no such file"),
    ):
        assert main(["serve", "monitor", *data, *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
