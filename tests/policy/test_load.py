"""Policy files: a broken file is an error naming the line and the field, never a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.policy import PolicyError, load, loads
from hullcheck.policy.model import Action, Need
from hullcheck.policy.rules import SignatureRule

REPO = Path(__file__).resolve().parents[2]
HEAD = "apiVersion: hullcheck/v1\nkind: Policy\nrules:\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "p.yaml: the policy file is empty"),
    ("apiVersion: hullcheck/v1\nkind: Policy\nrules: [\n", "p.yaml:4: not valid YAML"),
    ("apiVersion: hullcheck/v2\nkind: Policy\nrules: []\n",
     "p.yaml:1: apiVersion: must be hullcheck/v1, not 'hullcheck/v2'"),
    ("apiVersion: hullcheck/v1\nkind: Rules\n", "p.yaml:2: kind: must be Policy"),
    ("apiVersion: hullcheck/v1\nkind: Policy\nrules: []\n",
     "p.yaml:3: rules: a policy needs at least one rule"),
    ("apiVersion: hullcheck/v1\nkind: Policy\nrulez: []\n", "p.yaml:3: rulez: unknown field"),
    (HEAD + "  - id: a\n    type: vulnerabilities\n    severty: high\n",
     "p.yaml:6: rules[0].severty: unknown field for a vulnerabilities rule"),
    (HEAD + "  - id: a\n    type: vulnerabilities\n    severity: hgih\n",
     "p.yaml:6: rules[0].severity: unknown severity 'hgih'"),
    (HEAD + "  - id: a\n    type: vulnerabilities\n    severity: high\n    action: block\n",
     "p.yaml:7: rules[0].action: must be one of fail, warn, not 'block'"),
    (HEAD + "  - id: a\n    type: magic\n", "p.yaml:5: rules[0].type: unknown rule type 'magic'"),
    (HEAD + "  - type: secrets\n", "p.yaml:4: rules[0].id: required field is missing"),
    (HEAD + "  - id: a\n    type: secrets\n  - id: a\n    type: secrets\n",
     "p.yaml:6: rules[1].id: duplicate rule id 'a' (first on line 4)"),
    (HEAD + "  - id: a\n    type: secrets\n    type: config\n", "p.yaml:6: rules[0].type: duplicate"),
    (HEAD + "  - id: a\n    type: vulnerabilities\n    severity: high\n    minAgeDays: soon\n",
     "p.yaml:7: rules[0].minAgeDays: must be a whole number"),
    (HEAD + "  - id: a\n    type: vulnerabilities\n    kev: yes please\n",
     "p.yaml:6: rules[0].kev: must be true or false"),
    (HEAD + "  - id: a\n    type: licenses\n    deny: [GPL-3.0-only, Not-A-Licence]\n",
     "p.yaml:6: rules[0].deny[1]: 'Not-A-Licence' is not a known SPDX licence id"),
    (HEAD + "  - id: a\n    type: licenses\n    deny: [MIT]\n    allow: [MIT]\n",
     "p.yaml:4: rules[0]: a licenses rule needs exactly one of deny or allow"),
    (HEAD + "  - id: a\n    type: cel\n    expression: 'size(packages) >'\n",
     "p.yaml:6: rules[0].expression: CEL syntax error"),
    (HEAD + "  - id: a\n    type: signatures\n    keys: [deadbeef]\n",
     "p.yaml:6: rules[0].keys[0]: 'deadbeef' is not a key fingerprint"),
    (HEAD + "  - id: a\n    type: signatures\n    keys:\n      - path: missing.pub\n",
     "p.yaml:7: rules[0].keys[0].path: cannot read"),
    (HEAD + "  - id: a\n    type: secrets\nwaivers:\n  - rule: b\n    reason: x\n"
            "    expires: 2030-01-01\n",
     "p.yaml:7: waivers[0].rule: no rule has id 'b'"),
    (HEAD + "  - id: a\n    type: secrets\nwaivers:\n  - rule: a\n    expires: 2030-01-01\n",
     "p.yaml:7: waivers[0].reason: required field is missing"),
    (HEAD + "  - id: a\n    type: secrets\nwaivers:\n  - rule: a\n    reason: x\n"
            "    expires: next year\n",
     "p.yaml:9: waivers[0].expires: must be a date YYYY-MM-DD, not 'next year'"),
    (HEAD + "  - id: a\n    type: secrets\nwaivers:\n  - rule: a\n    reason: x\n",
     "p.yaml:7: waivers[0].expires: required field is missing"),
    (HEAD + "  - id: a\n    type: secrets\nwaivers:\n  - reason: x\n    expires: 2030-01-01\n",
     "p.yaml:7: waivers[0]: a waiver needs rule or vulnerability"),
    (HEAD + "  - id: a\n    type: sbom\n    banned: [evil, ~]\n",
     "p.yaml:6: rules[0].banned[1]: must be a package name glob or {name, purl}, not empty"),
])
def test_broken_policy_names_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        loads(text, name="p.yaml", base_dir=tmp_path)
    assert str(err.value).startswith(message), str(err.value)


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^policy file .*nope\.yaml: no such file$"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load(bad)


def test_key_by_pem_path_gives_its_fingerprint(tmp_path: Path) -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_bytes(pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    f = tmp_path / "policy.yaml"
    f.write_text(HEAD + "  - id: s\n    type: signatures\n    keys:\n      - path: keys/release.pub\n"
                 "      - SHA256:" + "AB" * 32 + "\n")
    p = load(f)
    rule = p.rules[0]
    assert isinstance(rule, SignatureRule)
    assert rule.keys == ("sha256:" + hashlib.sha256(der).hexdigest(), "sha256:" + "ab" * 32)
    assert p.verification_keys() == (str((tmp_path / "keys" / "release.pub").resolve()),)
    assert p.needs() == {Need.SIGNATURES}


def test_cel_needs_follow_the_names_used() -> None:
    p = loads(HEAD + "  - id: c\n    type: cel\n    expression: size(secrets) == 0 && "
              "base.trusted\n    action: warn\n", name="p.yaml")
    assert p.needs() == {Need.SECRETS, Need.BASE}
    assert p.rules[0].action is Action.WARN


@pytest.mark.parametrize("name", ["production.yaml", "admission.yaml"])
def test_shipped_examples_load(name: str) -> None:
    p = load(REPO / "examples" / "policy" / name)
    assert p.rules
