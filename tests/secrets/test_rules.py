"""Every built-in rule: a true positive in a real-looking file, and a near miss it must not
report (wrong length, placeholder, example value, wrong prefix or wrong file)."""

from __future__ import annotations

import base64
import json

import pytest

from hullcheck.secrets import RULES, Scanner, SecretConfig, available_engines, redact
from hullcheck.secrets.rules import shannon_entropy
from tests.secrets import fakes
from tests.secrets.fakes import ALNUM, B64, rand

GCP_KEY = fakes.pem_private_key()


def gcp_json(key: str) -> str:
    return json.dumps({"type": "service_account", "project_id": "demo",
                       "private_key_id": rand("0123456789abcdef", 40),
                       "private_key": key, "client_email": "svc@demo.iam.gserviceaccount.com"},
                      indent=2)


DOCKER_AUTH = base64.b64encode(f"robot:{rand(ALNUM, 24)}".encode()).decode()
SLACK = "xoxb-" + rand("0123456789", 12) + "-" + rand("0123456789", 12) + "-" + rand(ALNUM, 24)

# rule id → (path, text holding the secret, the secret, near-miss path, near-miss text)
CASES: dict[str, tuple[str, str, str, str, str]] = {
    "aws-access-key-id": (
        "/app/.env", f"AWS_ACCESS_KEY_ID={fakes.aws_key_id()}\n", fakes.aws_key_id(),
        "/app/.env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"),
    "aws-secret-access-key": (
        "/root/.aws/credentials",
        f"[default]\naws_secret_access_key = {fakes.aws_secret()}\n", fakes.aws_secret(),
        "/root/.aws/credentials", "[default]\naws_secret_access_key = " + "ab" * 20 + "\n"),
    "gcp-service-account-key": (
        "/app/sa.json", gcp_json(GCP_KEY), GCP_KEY.split("\n")[1],
        "/app/sa.json", gcp_json("")),
    "azure-storage-account-key": (
        "/app/appsettings.json",
        f"DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={rand(B64, 86)}==;"
        "EndpointSuffix=core.windows.net", rand(B64, 86) + "==",
        "/app/appsettings.json", f"AccountName=demo;AccountKey={rand(B64, 44)}"),
    "github-pat": ("/app/ci.sh", f"export GH_TOKEN=ghp_{rand(ALNUM, 36)}\n",
                   f"ghp_{rand(ALNUM, 36)}", "/app/ci.sh", f"export GH_TOKEN=ghp_{rand(ALNUM, 30)}\n"),
    "github-oauth": ("/app/ci.sh", f"token: gho_{rand(ALNUM, 36)}\n", f"gho_{rand(ALNUM, 36)}",
                     "/app/ci.sh", f"token: gho_{rand(ALNUM, 35)}\n"),
    "github-app-token": ("/app/ci.sh", f"token: ghs_{rand(ALNUM, 36)}\n", f"ghs_{rand(ALNUM, 36)}",
                         "/app/ci.sh", f"token: ghx_{rand(ALNUM, 36)}\n"),
    "github-fine-grained-pat": (
        "/app/ci.sh", f"github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 59)}\n",
        f"github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 59)}",
        "/app/ci.sh", f"github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 30)}\n"),
    "gitlab-pat": ("/app/ci.sh", f"GITLAB_TOKEN=glpat-{rand(ALNUM, 20)}\n",
                   f"glpat-{rand(ALNUM, 20)}", "/app/ci.sh", f"GITLAB_TOKEN=glpat-{rand(ALNUM, 12)}\n"),
    "slack-token": ("/app/bot.py", f'SLACK = "{SLACK}"\n', SLACK,
                    "/app/bot.py", 'SLACK = "xoxz-1234567890-abc"\n'),
    "slack-webhook": (
        "/app/notify.sh",
        f"curl -X POST https://hooks.slack.com/services/T{rand(ALNUM, 8)}/B{rand(ALNUM, 10)}/"
        f"{rand(ALNUM, 24)}\n", f"T{rand(ALNUM, 8)}/B{rand(ALNUM, 10)}/{rand(ALNUM, 24)}",
        "/app/README", "https://hooks.slack.com/services/T00000000/B00000000/"
                       "XXXXXXXXXXXXXXXXXXXXXXXX\n"),
    "stripe-secret-key": ("/app/pay.js", f"const key = 'sk_live_{rand(ALNUM, 24)}';\n",
                          f"sk_live_{rand(ALNUM, 24)}",
                          "/app/pay.js", f"const key = 'sk_test_{rand(ALNUM, 24)}';\n"),
    "private-key": ("/root/.ssh/id_ecdsa", fakes.pem_private_key(), "",
                    "/etc/ssl/pub.pem", fakes.public_key_pem()),
    "jwt": ("/app/token.txt", f"Authorization: Bearer {fakes.jwt()}\n", fakes.jwt(),
            "/app/token.txt", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9\n"),
    "npm-access-token": ("/app/publish.sh", f"NPM_TOKEN=npm_{rand(ALNUM, 36)}\n",
                         f"npm_{rand(ALNUM, 36)}", "/app/publish.sh", f"NPM_TOKEN=npm_{rand(ALNUM, 20)}\n"),
    "npmrc-auth": ("/root/.npmrc", f"//registry.example.org/:_authToken={rand(ALNUM, 32)}\n",
                   rand(ALNUM, 32),
                   "/root/.npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n"),
    "pypirc-password": ("/root/.pypirc", f"[pypi]\nusername = bob\npassword = {rand(ALNUM, 8)}\n",
                        rand(ALNUM, 8),
                        "/app/pypirc.txt", f"[pypi]\nusername = bob\npassword = {rand(ALNUM, 8)}\n"),
    "docker-config-auth": ("/root/.docker/config.json",
                           json.dumps({"auths": {"registry.example.org": {"auth": DOCKER_AUTH}}}),
                           DOCKER_AUTH, "/root/.docker/config.json",
                           json.dumps({"auths": {"registry.example.org": {}},
                                       "credsStore": "desktop"})),
    "netrc-password": ("/root/.netrc", f"machine ftp.example.org login bob password {rand(ALNUM, 6)}\n",
                       rand(ALNUM, 6), "/root/.netrc", "machine ftp.example.org login bob\n"),
    "command-line-password": (
        "/app/fetch.sh", f"curl -fsSL -u deploy:{rand(ALNUM, 12)} https://repo.example.org/x\n",
        rand(ALNUM, 12), "/app/fetch.sh", "curl -fsSL -u \"$REPO_USER:$REPO_PASS\" https://x\n"),
    "url-password": ("/app/settings.py",
                     f"DATABASE_URL = 'postgres://app:{rand(ALNUM, 14)}@db.internal:5432/app'\n",
                     rand(ALNUM, 14), "/app/settings.py",
                     "DATABASE_URL = 'postgres://app:${DB_PASSWORD}@db.internal:5432/app'\n"),
    "generic-password": ("/app/config.ini", f"[db]\ndb_password = {rand(ALNUM, 10)}7x\n",
                         rand(ALNUM, 10) + "7x",
                         "/app/config.ini", "[db]\ndb_password = get_password_from_vault\n"),
}


def rule_ids(text: str, path: str, engine: str | None = None) -> list[str]:
    return [h.rule.id for h in Scanner(engine=engine).scan_bytes(text.encode(), path)]


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(r.id for r in RULES)


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_true_positive(rule_id: str, engine: str) -> None:
    path, text, _, _, _ = CASES[rule_id]
    assert rule_id in rule_ids(text, path, engine)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_near_miss(rule_id: str) -> None:
    _, _, _, path, text = CASES[rule_id]
    assert rule_id not in rule_ids(text, path)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_match_is_redacted(rule_id: str) -> None:
    path, text, secret, _, _ = CASES[rule_id]
    hits = [h for h in Scanner().scan_bytes(text.encode(), path) if h.rule.id == rule_id]
    assert hits and "*****" in hits[0].match
    if secret:
        assert secret not in hits[0].match
        assert secret[:8] not in hits[0].match


def test_private_key_body_never_shown_and_openssh_found() -> None:
    key = fakes.openssh_private_key()
    hits = Scanner().scan_bytes(key.encode(), "/root/.ssh/id_ed25519")
    assert [h.rule.id for h in hits] == ["private-key"]
    body_lines = [ln for ln in key.splitlines() if not ln.startswith("-----")]
    assert all(ln not in hits[0].match for ln in body_lines if len(ln) > 8)
    assert hits[0].line == 1


def test_aws_pair_reports_both_and_line_numbers() -> None:
    text = (f"# creds\n[default]\naws_access_key_id = {fakes.aws_key_id()}\n"
            f"aws_secret_access_key = {fakes.aws_secret()}\n")
    hits = Scanner().scan_bytes(text.encode(), "/root/.aws/credentials")
    # the secret key is also a "secret = value" assignment: the specific rule wins alone
    assert [(h.rule.id, h.line) for h in hits] == [("aws-access-key-id", 3),
                                                  ("aws-secret-access-key", 4)]


def test_placeholders_and_low_entropy_are_not_passwords() -> None:
    for value in ("changeme", "${DB_PASSWORD}", "<password>", "xxxxxxxxxxxx", "aaaaaaaa1aaaa"):
        assert rule_ids(f"password = {value}\n", "/app/x.conf") == [], value


def test_redact_keeps_at_most_four_characters_and_a_quarter() -> None:
    assert redact("AKIAABCDEFGHIJKLMNOP") == "AKIA*****"
    assert redact("hunter22") == "hu*****"
    assert redact("abc") == "*****"


def test_entropy_of_random_and_repeated_text() -> None:
    assert shannon_entropy(b"aaaa") == 0
    assert shannon_entropy(fakes.aws_secret().encode()) > 4.5


def test_disabled_rule_does_not_run() -> None:
    path, text, *_ = CASES["jwt"]
    scanner = Scanner(SecretConfig(disabled=("jwt",)))
    assert scanner.scan_bytes(text.encode(), path) == []


@pytest.mark.parametrize("name", ["aws_secret_access_key", "AWS_SECRET_KEY", "awsSecretKey",
                                  "AwsAccessKey", "awskey", "aws_key", "AWS_ACCESS_KEY"])
def test_every_spelling_of_an_aws_secret_key_name_is_found(name: str) -> None:
    """The rule's keywords are what every match holds ("aws" then "_", "s", "a" or "k"), not
    "aws" alone (in "laws", "draws": a third of a Python tree's files)."""
    secret = fakes.aws_secret()
    text = f"laws = 1\n{name} = {secret}\n".encode()
    hits = Scanner().scan_bytes(text, "/app/settings.py")
    assert [(h.rule.id, h.line) for h in hits] == [("aws-secret-access-key", 2)]


def test_aws_alone_does_not_wake_the_aws_secret_key_rule() -> None:
    scanner = Scanner()
    rules = {r.id: i for i, (r, _, _) in enumerate(scanner._rules)}
    present = scanner._prefilter.hits(b"the laws of physics; draws and paws; AWS docs\n")
    woken = {i for k in present for i in scanner._by_keyword[k]}
    assert rules["aws-secret-access-key"] not in woken
