"""``hullcheck serve admission`` as a real process: which credentials reach which registry,
the flags it refuses, the decision log on standard error and a clean exit on SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hullcheck.cli.main import main
from tests.server.wire import (
    BASIC_CHALLENGE,
    FAKE_DIGEST,
    Tls,
    answer,
    basic,
    hostile_registry,
    pod,
    post,
    review,
)

CEL_POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {name: cluster}
rules:
  - id: anything
    type: cel
    expression: "true"
"""
STARTED = re.compile(r"hullcheck admission webhook: .* on https://127\.0\.0\.1:(\d+)/validate")


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "admission.yaml"
    path.write_text(CEL_POLICY)
    return path


class Webhook:
    """A ``hullcheck serve admission`` process; its standard error is kept."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "hullcheck", "serve", "admission",
                                      *args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.stderr: list[str] = []
        for line in self.proc.stderr:  # until it says where it listens (or exits)
            self.stderr.append(line)
            started = STARTED.search(line)
            if started:
                self.url = f"https://127.0.0.1:{started.group(1)}/validate"
                return
        raise AssertionError("the webhook did not start: " + "".join(self.stderr))

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops a Pod; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        _, rest = self.proc.communicate(timeout=60)
        self.stderr.extend(rest.splitlines(keepends=True))
        return self.proc.returncode


@pytest.fixture
def start_webhook(tls: Tls, policy: Path) -> Iterator[Any]:
    started: list[Webhook] = []

    def start(env: dict[str, str], *extra: str) -> Webhook:
        args = ["--policy", str(policy), "--tls-cert", str(tls[0]), "--tls-key", str(tls[1]),
                "--host", "127.0.0.1", "--port", "0", *extra]
        hook = Webhook(args, env)
        started.append(hook)
        return hook

    yield start
    for hook in started:
        if hook.proc.poll() is None:
            hook.proc.kill()
            hook.proc.wait()


def test_credentials_go_only_to_their_own_host_never_to_a_pods_registry(
        start_webhook: Any, tls: Tls, tmp_path: Path) -> None:
    with hostile_registry(BASIC_CHALLENGE) as hostile, \
            hostile_registry(BASIC_CHALLENGE) as company:
        config = tmp_path / "docker"
        config.mkdir()
        auth = base64.b64encode(b"robot:from-config").decode()
        (config / "config.json").write_text(json.dumps({"auths": {company.host: {"auth": auth}}}))
        env = {**os.environ, "DOCKER_CONFIG": str(config),
               "HULLCHECK_REGISTRY_USERNAME": "ci", "HULLCHECK_REGISTRY_PASSWORD": "s3cret"}
        hook = start_webhook(env)
        images = (f"{hostile.host}/loot/app:v1", f"{hostile.host}/loot/app@{FAKE_DIGEST}",
                  f"{company.host}/shop/web:v1")
        resp = answer(post(hook.url, tls, review(pod(*images), uid="creds")), "creds")
        assert hook.stop() == 0
    # Asked, by tag and by digest, with a challenge for basic credentials: given none.
    assert {path for _, path, _ in hostile.requests} >= {
        "/v2/loot/app/manifests/v1", f"/v2/loot/app/manifests/{FAKE_DIGEST}"}
    assert hostile.authorizations == []
    # The registry named in the Docker config got its own credentials, and only those.
    assert set(company.authorizations) == {basic("robot", "from-config")}
    assert resp["allowed"] is False
    log = "".join(hook.stderr)
    assert "ignoring HULLCHECK_REGISTRY_USERNAME and HULLCHECK_REGISTRY_PASSWORD" in log
    assert "s3cret" not in log
    decisions = [json.loads(line) for line in hook.stderr if line.startswith("{")]
    assert [(d["event"], d["uid"], d["allowed"]) for d in decisions] == [("decision", "creds", False)]
    assert [i["image"] for i in decisions[0]["images"]] == list(images)


@pytest.mark.parametrize("extra, says", [
    (["--username", "ci"], "does not take --username or --password-stdin"),
    (["--password-stdin"], "does not take --username or --password-stdin"),
    (["--review-timeout", "30s"], "must be under 30s"),
    (["--review-timeout", "soon"], "is not a duration"),
    (["--max-concurrent-reviews", "0"], "--max-concurrent-reviews must be at least 1"),
], ids=["username", "password-stdin", "timeout-30s", "timeout-text", "no-slots"])
def test_refused_flags(tls: Tls, policy: Path, capsys: pytest.CaptureFixture[str],
                       extra: list[str], says: str) -> None:
    code = main(["serve", "admission", "--policy", str(policy), "--tls-cert", str(tls[0]),
                 "--tls-key", str(tls[1]), "--port", "0", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    if "--username" in says:
        assert "DOCKER_CONFIG" in err  # the hint says where credentials come from


def test_example_manifest_mounts_a_docker_config_and_answers_before_the_api_server_gives_up(
        ) -> None:
    from hullcheck.cli.main import build_parser
    from hullcheck.deadline import parse_duration

    manifest = Path(__file__).parents[2] / "examples" / "kubernetes" / "validating-webhook.yaml"
    docs = {d["kind"]: d for d in yaml.safe_load_all(manifest.read_text())}
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    args = build_parser(container["args"]).parse_args(container["args"])
    # The arguments are ones serve admission takes, with no credentials among them.
    assert args.func.__name__ == "run_admission"
    assert args.username is None and not args.password_stdin
    timeout_seconds = docs["ValidatingWebhookConfiguration"]["webhooks"][0]["timeoutSeconds"]
    assert parse_duration(args.review_timeout) < timeout_seconds
    # DOCKER_CONFIG is the mount of a Docker config Secret, whose key becomes config.json.
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == env["DOCKER_CONFIG"])
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]
