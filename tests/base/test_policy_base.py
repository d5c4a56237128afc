"""A policy's base rule judges what ``pipeline.policy`` gathers from the base room: a trust
file that allows the base or not, and how many days it is behind its latest build (the
``world`` of tests/base: an application on a Debian base, 45 days behind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.base.conftest import World

POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {name: base}
rules:
  - id: base
    type: base
    trusted: true
    maxDaysBehind: 30
"""


def test_trust_and_age_of_the_base(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HULLCHECK_BASE_CATALOG", str(world.catalog))
    policy = tmp_path / "base.yaml"
    policy.write_text(POLICY)
    trust = tmp_path / "trust.yaml"
    trust.write_text("sources:\n  - name: registry.example.com/**\n")
    args = ["policy", "check", world.app, "--policy", str(policy), "--base-trust", str(trust),
            "-o", "json"]
    assert main(args) == 1
    (violation,) = json.loads(capsys.readouterr().out)["violations"]
    assert violation["message"] == (
        f"base image {world.base} is not trusted; "
        f"base image {world.base} is 45 days behind its latest build (at most 30 allowed)")
    trust.write_text(f"sources:\n  - name: '{world.host}/**'\n")
    policy.write_text(POLICY.replace("30", "45"))
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "pass" and doc["violations"] == []
