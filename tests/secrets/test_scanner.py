"""The scanner over real images: every layer, deleted files, config and history, allow-lists,
skipped files, and the CLI never printing a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck import secrets
from hullcheck.cli.main import main
from hullcheck.errors import FormatError
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, file, whiteout
from hullcheck.secrets import Origin, SecretConfig, load_config, parse_config
from tests.secrets import fakes

KEY_ID = fakes.aws_key_id(7)
SECRET = fakes.aws_secret(7)
CREDENTIALS = f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"


def report_of(ref: str, config: SecretConfig | None = None) -> secrets.SecretReport:
    return secrets.scan_image(open_image(ref), config)[0]


def test_secret_deleted_in_a_later_layer_is_reported_with_both_layers(
    make_image: Callable[..., str],
) -> None:
    ref = make_image({"root/.aws/credentials": CREDENTIALS, "etc/hostname": "box\n"},
                     [whiteout("root/.aws/credentials")])
    report = report_of(ref)
    found = [f for f in report.findings if f.origin is Origin.FILE]
    assert {f.rule_id for f in found} == {"aws-access-key-id", "aws-secret-access-key"}
    for f in found:
        assert f.path == "/root/.aws/credentials"
        assert f.visible is False
        assert f.layer is not None and f.layer.index == 0
        assert f.layer.created_by == "RUN step 0" and f.layer.diff_id.startswith("sha256:")
        assert f.deleted_by is not None and f.deleted_by.index == 1
        assert f.deleted_by.created_by == "RUN step 1"
    assert {f.line for f in found} == {2, 3}


def test_overwritten_file_keeps_the_old_secret_and_the_new_one_is_visible(
    make_image: Callable[..., str],
) -> None:
    token = "ghp_" + fakes.rand(fakes.ALNUM, 36, 3)
    ref = make_image({"app/.env": f"GH={token}\n"},
                     {"app/.env": f"GH=ghp_{fakes.rand(fakes.ALNUM, 36, 4)}\n"})
    found = sorted((f.layer.index, f.visible, f.deleted_by and f.deleted_by.index)
                   for f in report_of(ref).findings if f.layer is not None)
    assert found == [(0, False, 1), (1, True, None)]


def test_env_labels_and_history_build_args(make_image: Callable[..., str]) -> None:
    token = "glpat-" + fakes.rand(fakes.ALNUM, 20, 9)
    ref = make_image(
        {"app/x": "1"},
        env=["PATH=/usr/bin", f"AWS_SECRET_ACCESS_KEY={SECRET}"],
        labels={"ci.token": token},
        history_extra=[{"created_by": f"RUN |1 GITLAB_TOKEN={token} /bin/sh -c make",
                        "empty_layer": True}],
    )
    report = report_of(ref)
    where = {(f.origin, f.path, f.rule_id) for f in report.findings}
    assert (Origin.ENV, "config:Env/AWS_SECRET_ACCESS_KEY", "aws-secret-access-key") in where
    assert (Origin.LABEL, "config:Labels/ci.token", "gitlab-pat") in where
    assert (Origin.HISTORY, "config:history/1", "gitlab-pat") in where
    assert all(f.visible for f in report.findings)


def test_binaries_large_files_and_allowlisted_paths_are_skipped_and_counted(
    make_image: Callable[..., str],
) -> None:
    secret_line = f"key={KEY_ID}\n".encode()
    ref = make_image({
        "usr/bin/tool": b"\x7fELF\x00\x00" + secret_line,  # NUL in the first 8 KiB
        "usr/lib/libx.so.1": secret_line,  # a binary extension: not even read
        "var/big.log": secret_line + b"x" * 4096,
        "usr/share/doc/example.conf": secret_line,
        "app/real.conf": secret_line,
    })
    cfg = SecretConfig(max_file_size=2048, allow_paths=(r"^/usr/share/doc/",))
    report = report_of(ref, cfg)
    assert [f.path for f in report.findings] == ["/app/real.conf"]
    assert (report.skipped.binary, report.skipped.too_large, report.skipped.allowlisted) == (2, 1, 1)


def test_allow_list_by_regex_and_rule_id(tmp_path: Path, make_image: Callable[..., str]) -> None:
    ref = make_image({"app/a": f"{KEY_ID}\n", "app/b": f"Bearer {fakes.jwt()}\n"})
    assert {f.rule_id for f in report_of(ref).findings} == {"aws-access-key-id", "jwt"}
    conf = tmp_path / "secrets.yaml"
    conf.write_text(f"allow:\n  regexes: ['^{KEY_ID[:8]}']\n  rules: [jwt]\n")
    assert report_of(ref, load_config(conf)).findings == ()


def test_user_rule_from_yaml(tmp_path: Path, make_image: Callable[..., str]) -> None:
    conf = tmp_path / "secrets.yaml"
    conf.write_text("rules:\n  - id: acme-token\n    title: ACME token\n    severity: high\n"
                    "    keywords: [acme_]\n    regex: 'acme_(?P<secret>[0-9a-f]{32})'\n")
    ref = make_image({"app/conf": "token: acme_" + "0123456789abcdef" * 2 + "\n"})
    found = report_of(ref, load_config(conf)).findings
    assert [(f.rule_id, f.severity.value, f.line) for f in found] == [("acme-token", "high", 1)]
    assert "0123456789abcdef" not in found[0].match


@pytest.mark.parametrize(("doc", "message"), [
    ({"rules": [{"id": "x"}]}, r"rules\[0\]: 'regex' is required"),
    ({"rules": [{"id": "x", "regex": "("}]}, r"rules\[0\] \(x\) regex: invalid regular expression"),
    ({"rules": [{"id": "jwt", "regex": "a"}]}, "rule id 'jwt' is defined twice"),
    ({"allow": {"rules": ["nope"]}}, "unknown rule id 'nope'"),
    ({"allow": {"paths": "x"}}, "allow.paths: expected a list of strings"),
    ({"bogus": 1}, "unknown field 'bogus'"),
    ({"rules": [{"id": "x", "regex": "a", "severity": "huge"}]}, "severity must be one of"),
])
def test_config_errors_name_the_field(doc: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_config(doc, name="s.yaml")


def test_config_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(FormatError, match=r"s\.yaml:2: not valid YAML: did not find"):
        load_config(bad)


def _leaky_image(make_image: Callable[..., str]) -> tuple[str, list[str]]:
    pem = fakes.pem_private_key()
    password = fakes.rand(fakes.ALNUM, 16, 5)
    url = f"postgres://app:{password}@db.internal/app"
    ref = make_image(
        {"root/.aws/credentials": CREDENTIALS, "root/.ssh/id_ecdsa": pem,
         "app/settings.py": f"DATABASE_URL = '{url}'\n"},
        [whiteout("root/.aws/credentials"), Entry(name="app/note", data=b"ok")],
        env=[f"DB_URL={url}"],
        history_extra=[{"created_by": f"RUN |1 AWS_KEY={KEY_ID} /bin/sh -c true",
                        "empty_layer": True}],
    )
    body = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    return ref, [KEY_ID, SECRET, password, *body]


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_cli_never_prints_a_secret(fmt: str, make_image: Callable[..., str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    ref, leaks = _leaky_image(make_image)
    assert main(["secrets", ref, "-o", fmt]) == 0
    out, err = capsys.readouterr()
    assert "*****" in out
    for s in leaks:
        assert s not in out and s not in err
    if fmt == "json":
        doc = json.loads(out)
        rules = {f["ruleId"] for f in doc["findings"]}
        assert {"aws-access-key-id", "aws-secret-access-key", "private-key",
                "url-password"} <= rules
        hidden = [f for f in doc["findings"] if not f["visible"]]
        assert hidden and all(f["deletedBy"]["index"] == 1 for f in hidden)
        assert set(doc["skipped"]) == {"binary", "tooLarge", "allowlisted", "packageFiles",
                                       "packageFileMatches"}


def test_cli_json_clean_image_and_exit_codes(make_image: Callable[..., str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    clean = make_image({"etc/hostname": "box\n"})
    assert main(["secrets", clean, "-o", "json", "--fail"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["findings"] == []
    leaky = make_image([file("app/.env", f"K={KEY_ID}\n")])
    assert main(["secrets", leaky, "-o", "json"]) == 0
    assert main(["secrets", leaky, "-o", "json", "--fail"]) == 1
    assert main(["secrets", leaky, "-o", "json", "--fail-on", "critical"]) == 1
    capsys.readouterr()
    jwt_only = make_image([file("app/t", f"Bearer {fakes.jwt()}\n")])
    assert main(["secrets", jwt_only, "-o", "json", "--fail-on", "high"]) == 0  # jwt is medium
    assert main(["secrets", leaky, "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "is not a file" in capsys.readouterr().err
