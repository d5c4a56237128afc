"""The service end to end over HTTP: a real docker-registry sends its push notifications to
/api/v1/registry/events, the scan job runs, and the image shows its findings; `hullcheck
push` scans where the image is and uploads; the shapes clients rely on, on both backends."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from hullcheck import fleet
from hullcheck.cli.main import main
from hullcheck.fleet.model import Scope
from tests.fixtures.images import write
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.registry import start_registry
from tests.server.api.shapes import check
from tests.server.api.support import (
    URLLIB3_ADVISORY,
    URLLIB3_CVE,
    URLLIB3_PURL,
    drain,
    push_image,
    python_image,
    running,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe, seconds: float = 60.0):
    """Poll ``probe`` until it returns something true: the registry notifies on its own
    schedule. The limit only turns a hang into a failure; nothing is asserted about time."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest):
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def test_a_registry_push_notification_becomes_a_scan_and_the_image_shows_its_findings(
        tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    port = free_port()
    # The registry's notifications carry a write token of the service, as an operator sets up.
    with fleet.open(database_url or fleet.data_dir_url(data)) as store:
        _, hook_token = store.create_token("registry-hook", Scope.WRITE, actor="test")
    notifications = {"notifications": {"endpoints": [{
        "name": "hullcheck", "url": f"http://127.0.0.1:{port}/api/v1/registry/events",
        "headers": {"Authorization": [f"Bearer {hook_token}"]},
        "timeout": "5s", "threshold": 5, "backoff": "1s"}]}}
    with start_registry(tmp_path / "registry", extra_config=notifications) as reg, \
            running(data, database_url=database_url, registry=reg.host, port=port) as api:
        digest = push_image(reg.host, "shop/web:1.0", python_image({"urllib3": "1.24.1"}))
        repository = f"{reg.host}/shop/web"

        listed = wait_for("the push notification", lambda: api.get(
            "/images", repository=repository).json()["images"])
        assert [(i["digest"], i["status"], i["tags"]) for i in listed] == [
            (digest, "pending", ["1.0"])]
        audit = api.get("/audit").json()["entries"]
        assert drain(api.service) >= 1

        page = check(api.get("/images", repository=repository).json(), "ImageList")
        assert page["next"] is None
        [summary] = page["images"]
        assert summary["digest"] == digest and summary["repository"] == repository
        assert summary["status"] == "scanned" and summary["tags"] == ["1.0"]
        assert summary["findings"]["high"] + summary["findings"]["medium"] + summary[
            "findings"]["critical"] + summary["findings"]["unknown"] + summary[
            "findings"]["low"] == 1

        image = check(api.get(f"/images/{digest}").json(), "Image")
        [finding] = image["findings"]
        assert {finding["id"], *finding["aliases"]} >= {URLLIB3_ADVISORY, URLLIB3_CVE}
        assert finding["package"]["purl"] == URLLIB3_PURL
        assert finding["fixedVersions"] == ["1.24.2"] and finding["suppressed"] is None
        assert finding["state"] == "open" and finding["firstSeen"] and finding["fixedAt"] is None
        assert [h["change"] for h in finding["history"]] == ["new"]
        assert image["owners"] == ["team-api@example.org"]
        assert [la["createdBy"] for la in image["layers"]] == ["base", "pip install"]
        assert audit is not None


def test_hullcheck_push_scans_here_uploads_and_the_service_matches(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(python_image({"urllib3": "1.24.1", "six": "1.16.0"}), tmp_path / "img")
    with running(tmp_path / "data", database_url=database_url, registry=None) as api:
        monkeypatch.setenv("HULLCHECK_TOKEN", api.tokens["write"])
        assert main(["push", ref, "--server", api.url, "--name", "registry.example.org/builder/app:2.0"]) == 0
        digest = capsys.readouterr().out.strip()
        assert digest.startswith("sha256:")

        image = check(api.get(f"/images/{digest}").json(), "Image")
        assert image["repository"] == "registry.example.org/builder/app" and image["tags"] == ["2.0"]
        assert image["status"] == "scanned"
        assert [(f["id"], f["package"]["purl"]) for f in image["findings"]] == [
            (URLLIB3_CVE, URLLIB3_PURL)]
        listed = api.get("/images", repository="registry.example.org/builder/app").json()["images"]
        assert [i["digest"] for i in listed] == [digest]

        # A read token may look but not push: one line, exit 2.
        monkeypatch.setenv("HULLCHECK_TOKEN", api.tokens["read"])
        assert main(["push", ref, "--server", api.url, "--name", "registry.example.org/builder/app:2.1"]) == 2
        err = capsys.readouterr().err
        assert "refused POST /api/v1/uploads: HTTP 403: token 'read-token' has scope read" in err


def test_push_refuses_before_reading_when_the_server_or_token_is_wrong(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    ref = write(python_image({"six": "1.16.0"}), tmp_path / "img")
    monkeypatch.delenv("HULLCHECK_TOKEN", raising=False)
    assert main(["push", ref, "--server", "http://127.0.0.1:9", "--name", "a:1"]) == 2
    assert "set HULLCHECK_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("HULLCHECK_TOKEN", "hc_x")
    assert main(["push", ref, "--server", "ftp://example.org", "--name", "a:1"]) == 2
    assert "--server 'ftp://example.org': write the service's URL" in capsys.readouterr().err
    assert main(["push", ref, "--server", f"http://127.0.0.1:{free_port()}",
                 "--name", "a:1"]) == 2
    assert "cannot reach http://127.0.0.1:" in capsys.readouterr().err
    assert main(["push", ref, "--server", "http://127.0.0.1:9"]) == 2
    assert "is not a registry reference; say what to file it under" in capsys.readouterr().err


def test_push_files_a_registry_image_under_its_own_name(tmp_path: Path, registry,
                                                         monkeypatch, capsys) -> None:
    digest = push_image(registry.host, "ci/app:3.1", python_image({"urllib3": "1.24.1"},
                                                                   marker="push-name"))
    with running(tmp_path / "data", database_url=None, registry=None) as api:
        monkeypatch.setenv("HULLCHECK_TOKEN", api.tokens["write"])
        # the service is not configured to pull from this registry: push reads it here
        assert main(["push", f"{registry.host}/ci/app:3.1", "--server", api.url, "-q"]) == 0
        assert capsys.readouterr().out.strip() == digest
        image = api.get(f"/images/{digest}").json()
        assert (image["repository"], image["tags"]) == (f"{registry.host}/ci/app", ["3.1"])
        assert [f["id"] for f in image["findings"]] == [URLLIB3_CVE]
