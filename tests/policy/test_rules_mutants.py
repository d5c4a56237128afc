"""Each rule type's check and loading, stated whole: what it fails, the items it names (kind,
detail, package, purl: what reports and waivers read), its message and its loading errors
with their line and field. Written for the survivors of ``make mutate`` over
``policy/rules.py``: the older tests checked parts of messages, or ran the CLI as a child
process, which runs unmutated code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hullcheck.match.model import Status
from hullcheck.model import Severity
from hullcheck.policy import (
    AttestationEvidence,
    BaseEvidence,
    ConfigEvidence,
    PolicyError,
    SecretEvidence,
    SignatureEvidence,
    celcost,
    loads,
)
from hullcheck.policy.model import Hit, Item, Rule, Suppressed
from hullcheck.policy.rules import MAX_EXPRESSION, _unbounded
from tests.policy._build import TODAY, evidence, header, pkg, policy, vuln

KEY_A = "sha256:" + "1" * 64
KEY_B = "sha256:" + "2" * 64
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1"


def rule(text: str) -> Rule:
    (only,) = policy(text).rules
    return only


# -- evidence not gathered ---------------------------------------------------------------------


@pytest.mark.parametrize("text, field", [
    ("{id: r, type: vulnerabilities, severity: high}", "vulnerabilities"),
    ("{id: r, type: secrets}", "secrets"),
    ("{id: r, type: config, ids: [X]}", "config"),
    ("{id: r, type: licenses, deny: [MIT]}", "packages"),
    ("{id: r, type: sbom, required: true}", "packages"),
    (f"{{id: r, type: signatures, keys: ['{KEY_A}']}}", "signatures"),
    ("{id: r, type: signatures, attestations: [x]}", "attestations"),
    ("{id: r, type: base, trusted: true}", "base"),
])
def test_evidence_not_gathered_is_named_with_the_notes_about_it(text: str, field: str) -> None:
    r = rule(f"  - {text}\n")
    notes = (f"{field}: the registry refused", "other: unrelated", f"{field}: no image")
    hit = r.check(evidence(**{field: None, "notes": notes}), TODAY)
    assert hit == Hit(message=f"{field} evidence was not gathered, so this rule cannot pass "
                              f"({field}: the registry refused; {field}: no image)")
    hit = r.check(evidence(**{field: None}), TODAY)
    assert hit == Hit(message=f"{field} evidence was not gathered, so this rule cannot pass")


# -- vulnerabilities ---------------------------------------------------------------------------


def test_a_vulnerability_rule_names_each_finding_with_its_package_fix_and_kev() -> None:
    r = rule("  - {id: v, type: vulnerabilities, severity: high, onlyWithFix: true, kev: true,"
             " minAgeDays: 30}\n")
    assert r.criteria() == (  # type: ignore[attr-defined]
        "in CISA KEV, at or above high, with a fix available, published 30+ days ago")
    month = TODAY - timedelta(days=30)  # exactly minAgeDays old: old enough
    hit = vuln("CVE-1", Severity.CRITICAL, fixed=("3.0.13", "3.1.5"), kev=True, published=month,
               aliases=("GHSA-x",))
    marked = vuln("CVE-2", kev=True, fixed=("3.0.12",), suppressed_by="vex:a.json")
    young = vuln("CVE-3", kev=True, fixed=("3.0.12",), published=TODAY - timedelta(days=29))
    assert r.check(evidence(vulnerabilities=(hit, marked, young)), TODAY) == Hit(
        message="{n} finding(s) in CISA KEV, at or above high, with a fix available, "
                "published 30+ days ago",
        items=(Item(kind="vulnerability", id="CVE-1", ids=("CVE-1", "GHSA-x"),
                    detail="openssl 3.0.11, critical, KEV, fixed in 3.0.13, 3.1.5",
                    package="openssl", purl="pkg:deb/debian/openssl@3.0.11"),),
        itemised=True,
        suppressed=(Suppressed(item=Item(kind="vulnerability", id="CVE-2", ids=("CVE-2",),
                                         detail="openssl 3.0.11, high, KEV, fixed in 3.0.12",
                                         package="openssl",
                                         purl="pkg:deb/debian/openssl@3.0.11"),
                               by="vex:a.json", reason="vendor says so"),))
    assert r.check(evidence(vulnerabilities=(young,)), TODAY) is None


def test_a_malicious_package_rule_says_so() -> None:
    r = rule("  - {id: m, type: vulnerabilities, malicious: true}\n")
    assert r.criteria() == "malicious package"  # type: ignore[attr-defined]
    evil = vuln("MAL-1", Severity.MALICIOUS, package="evil", status=Status.MALICIOUS)
    assert r.check(evidence(vulnerabilities=(evil,)), TODAY) == Hit(
        message="{n} finding(s) malicious package", itemised=True,
        items=(Item(kind="vulnerability", id="MAL-1", ids=("MAL-1",), detail="evil 3.0.11, malicious",
                    package="evil", purl="pkg:deb/debian/evil@3.0.11"),))


# -- secrets, config ---------------------------------------------------------------------------


def test_a_secret_rule_names_the_path_layer_and_whether_a_later_layer_deleted_it() -> None:
    r = rule("  - {id: s, type: secrets, severity: high}\n")
    secrets = (
        SecretEvidence(rule="aws-key", severity=Severity.CRITICAL, path="/root/.aws", layer=2,
                       visible=False),
        SecretEvidence(rule="gh-token", severity=Severity.HIGH, path="/app/.env"),
        SecretEvidence(rule="password", severity=Severity.MEDIUM, path="/etc/x.conf", layer=0),
    )
    assert r.check(evidence(secrets=secrets), TODAY) == Hit(
        message="{n} secret(s) at or above high in the image", itemised=True, items=(
            Item(kind="secret", id="aws-key",
                 detail="/root/.aws, layer 2, deleted by a later layer but still shipped"),
            Item(kind="secret", id="gh-token", detail="/app/.env")))
    anything = rule("  - {id: s, type: secrets}\n")
    hit = anything.check(evidence(secrets=secrets[2:]), TODAY)
    assert hit == Hit(message="{n} secret(s) in the image", itemised=True,
                      items=(Item(kind="secret", id="password", detail="/etc/x.conf, layer 0"),))


def test_a_config_rule_names_each_check_with_its_title_and_severity() -> None:
    r = rule("  - {id: c, type: config, ids: [HC-1], severity: high}\n")
    config = (ConfigEvidence(id="HC-1", severity=Severity.LOW, title="no HEALTHCHECK"),
              ConfigEvidence(id="HC-2", severity=Severity.CRITICAL),
              ConfigEvidence(id="HC-3", severity=Severity.MEDIUM, title="x"))
    assert r.check(evidence(config=config), TODAY) == Hit(
        message="{n} configuration check(s) failed", itemised=True, items=(
            Item(kind="config", id="HC-1", detail="no HEALTHCHECK, low"),
            Item(kind="config", id="HC-2", detail="critical")))


# -- licences, sbom ----------------------------------------------------------------------------


def test_a_licence_deny_rule_names_the_package_and_the_licence() -> None:
    r = rule("  - {id: l, type: licenses, deny: [GPL-3.0-only]}\n")
    packages = (pkg("a", "1.0", "MIT"), pkg("b", "2.0", "MIT", "GPL-3.0-only"), pkg("c", "3.0"),
                pkg("d", "4.0", "MIT AND ("))
    hit = r.check(evidence(packages=packages), TODAY)
    assert hit is not None and hit.message == (
        "{n} package(s) with licences the policy does not accept")
    assert hit.itemised and hit.suppressed == ()
    assert hit.items[0] == Item(kind="licence", id="b", detail="2.0: GPL-3.0-only uses a denied licence",
                                package="b", purl="pkg:deb/b@2.0")
    assert [(i.id, i.detail.split(":")[0]) for i in hit.items] == [("b", "2.0"), ("d", "4.0")]


def test_a_licence_allow_rule_says_the_licence_is_outside_the_list() -> None:
    r = rule("  - {id: l, type: licenses, allow: [MIT], requireKnown: true}\n")
    hit = r.check(evidence(packages=(pkg("a", "1.0", "MIT"), pkg("b", "2.0", "Apache-2.0"),
                                     pkg("c", "3.0"))), TODAY)
    assert hit == Hit(message="{n} package(s) with licences the policy does not accept",
                      itemised=True, items=(
                          Item(kind="licence", id="b", package="b", purl="pkg:deb/b@2.0",
                               detail="2.0: Apache-2.0 needs a licence outside the allow list"),
                          Item(kind="licence", id="c", package="c", purl="pkg:deb/c@3.0",
                               detail="3.0: no licence known")))


def test_an_sbom_rule_names_each_banned_package_with_the_reason() -> None:
    r = rule("  - id: b\n    type: sbom\n    banned:\n      - xz-utils\n"
             "      - {purl: 'pkg:npm/event-stream@*', reason: compromised}\n")
    packages = (pkg("xz-utils", "5.6.0"), pkg("event-stream", "3.3.6", type="npm"), pkg("zlib"))
    assert r.check(evidence(packages=packages), TODAY) == Hit(
        message="{n} banned package(s)", itemised=True, items=(
            Item(kind="package", id="xz-utils", detail="5.6.0, banned", package="xz-utils",
                 purl="pkg:deb/xz-utils@5.6.0"),
            Item(kind="package", id="event-stream", detail="3.3.6, banned: compromised",
                 package="event-stream", purl="pkg:npm/event-stream@3.3.6")))
    required = rule("  - {id: b, type: sbom, required: true}\n")
    assert required.check(evidence(packages=()), TODAY) == Hit(
        message="the SBOM is empty: no package was found in the image")


# -- the base image ----------------------------------------------------------------------------


def test_a_base_rule_says_what_is_wrong_with_the_base_named() -> None:
    r = rule("  - {id: b, type: base, trusted: true, notEol: true, maxDaysBehind: 30}\n")
    bad = BaseEvidence(name="debian:10", trusted=False, eol=True, days_behind=31)
    assert r.check(evidence(base=bad), TODAY) == Hit(message=(
        "base image debian:10 is not trusted; base image debian:10 is end of life; "
        "base image debian:10 is 31 days behind its latest build (at most 30 allowed)"))
    assert r.check(evidence(base=BaseEvidence()), TODAY) == Hit(message=(
        "the base image is unknown, so not trusted; the base image is of unknown end-of-life "
        "status; how far the base image is behind its latest build is unknown"))
    # Exactly maxDaysBehind days behind is allowed.
    ok = BaseEvidence(name="debian:12", trusted=True, eol=False, days_behind=30)
    assert r.check(evidence(base=ok), TODAY) is None


# -- signatures --------------------------------------------------------------------------------


def test_a_signature_rule_names_the_kind_of_signer_it_missed() -> None:
    keys = rule(f"  - {{id: s, type: signatures, keys: ['{KEY_A}', '{KEY_B}']}}\n")
    assert keys.check(evidence(signatures=()), TODAY) == Hit(
        message=f"not signed by any required key ({KEY_A}, {KEY_B})")
    people = rule(f"  - id: s\n    type: signatures\n    identities:\n"
                  f"      - {{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}\n"
                  f"      - {{identityRegexp: '^https://github.com/org/', issuer: '{GITHUB}'}}\n")
    assert people.check(evidence(signatures=()), TODAY) == Hit(
        message=f"not signed by any required identity ({WORKFLOW} (issuer {GITHUB}), "
                f"/^https://github.com/org// (issuer {GITHUB}))")
    both = rule(f"  - id: s\n    type: signatures\n    keys: ['{KEY_A}']\n    identities:\n"
                f"      - {{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}\n"
                f"    require: all\n    attestations: [https://slsa.dev/provenance/v1, x, y]\n")
    assert both.check(evidence(signatures=(), attestations=()), TODAY) == Hit(
        message=f"no verified signature by {KEY_A}, {WORKFLOW} (issuer {GITHUB}); no verified "
                "attestation of type https://slsa.dev/provenance/v1, x, y")
    either = rule(f"  - id: s\n    type: signatures\n    keys: ['{KEY_A}']\n    identities:\n"
                  f"      - {{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}\n")
    assert either.check(evidence(signatures=()), TODAY) == Hit(
        message=f"not signed by any required signer ({KEY_A}, {WORKFLOW} (issuer {GITHUB}))")


def test_a_keyless_signature_counts_only_for_the_identity_and_issuer_it_was_made_by() -> None:
    r = rule(f"  - id: s\n    type: signatures\n    require: all\n    identities:\n"
             f"      - {{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}\n")
    signed = SignatureEvidence(key_fingerprint="", verified=True, identity=WORKFLOW, issuer=GITHUB)
    assert r.check(evidence(signatures=(signed,)), TODAY) is None
    other_issuer = SignatureEvidence(key_fingerprint="", verified=True, identity=WORKFLOW,
                                     issuer="https://accounts.google.com")
    unverified = SignatureEvidence(key_fingerprint="", verified=False, identity=WORKFLOW,
                                   issuer=GITHUB)
    keyed = SignatureEvidence(key_fingerprint=KEY_A, verified=True)
    for wrong in (other_issuer, unverified, keyed):
        assert r.check(evidence(signatures=(wrong,)), TODAY) == Hit(
            message=f"no verified signature by {WORKFLOW} (issuer {GITHUB})")


PROVENANCE = "https://slsa.dev/provenance/v1"


@pytest.mark.parametrize("signers, attestation, counts", [
    # A rule naming no signer takes any verified attestation, keyless or by key.
    ("", AttestationEvidence(predicate_type=PROVENANCE, identity=WORKFLOW, issuer=GITHUB), True),
    ("", AttestationEvidence(predicate_type=PROVENANCE, key_fingerprint=KEY_B), True),
    # Keys named: a keyless attestation is by none of them.
    (f"keys: ['{KEY_A}']",
     AttestationEvidence(predicate_type=PROVENANCE, identity=WORKFLOW, issuer=GITHUB), False),
    (f"keys: ['{KEY_A}']", AttestationEvidence(predicate_type=PROVENANCE, key_fingerprint=KEY_A),
     True),
    (f"keys: ['{KEY_A}']", AttestationEvidence(predicate_type=PROVENANCE, key_fingerprint=KEY_B),
     False),
    # An attestation whose key is not known (verified in the layout, no fingerprint) counts.
    (f"keys: ['{KEY_A}']", AttestationEvidence(predicate_type=PROVENANCE), True),
    # Identities named: a keyless attestation counts by its identity and issuer.
    (f"identities: [{{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}]",
     AttestationEvidence(predicate_type=PROVENANCE, identity=WORKFLOW, issuer=GITHUB), True),
    (f"identities: [{{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}]",
     AttestationEvidence(predicate_type=PROVENANCE, identity=WORKFLOW, issuer="https://x"), False),
    (f"identities: [{{identity: '{WORKFLOW}', issuer: '{GITHUB}'}}]",
     AttestationEvidence(predicate_type=PROVENANCE, identity="https://github.com/evil",
                         issuer=GITHUB), False),
], ids=["none-keyless", "none-key", "keys-keyless", "keys-same", "keys-other", "keys-unknown",
        "identity-same", "identity-other-issuer", "identity-other"])
def test_an_attestation_counts_only_when_a_signer_the_rule_names_made_it(
        signers: str, attestation: AttestationEvidence, counts: bool) -> None:
    r = rule(f"  - {{id: s, type: signatures, attestations: ['{PROVENANCE}']"
             + (f", {signers}" if signers else "") + "}\n")
    signed = (SignatureEvidence(key_fingerprint=KEY_A, verified=True),
              SignatureEvidence(key_fingerprint="", verified=True, identity=WORKFLOW, issuer=GITHUB))
    hit = r.check(evidence(signatures=signed, attestations=(attestation,)), TODAY)
    assert hit == (None if counts else Hit(
        message=f"no verified attestation of type {PROVENANCE}"))


# -- loading -----------------------------------------------------------------------------------

# The rules start on line 6 of the file (tests.policy._build.header).
@pytest.mark.parametrize("text, message", [
    ("  - id: r\n    type: vulnerabilities\n    onlyWithFix: true\n",
     "test.yaml:6: rules[0]: a vulnerabilities rule needs severity, kev: true or malicious: true"),
    ("  - id: r\n    type: config\n",
     "test.yaml:6: rules[0]: a config rule needs ids or severity"),
    ("  - id: r\n    type: licenses\n    deny:\n      - MIT\n      - {x: 1}\n",
     "test.yaml:10: rules[0].deny[1]: must be an SPDX licence id, not a mapping"),
    ("  - id: r\n    type: licenses\n    allow: []\n",
     "test.yaml:6: rules[0].allow: must list at least one licence"),
    ("  - id: r\n    type: sbom\n    banned:\n      - xz\n      - reason: bad\n",
     "test.yaml:10: rules[0].banned[1]: a banned package needs name or purl"),
    ("  - id: r\n    type: sbom\n    banned:\n      - xz\n      - [a]\n",
     "test.yaml:10: rules[0].banned[1]: must be a mapping, not a list"),
    ("  - id: r\n    type: sbom\n    banned:\n      - {name: a, version: 1}\n",
     "test.yaml:9: rules[0].banned[0].version: unknown field; expected one of name, purl, reason"),
    ("  - id: r\n    type: sbom\n    required: false\n",
     "test.yaml:6: rules[0]: an sbom rule needs required: true or banned"),
    ("  - id: r\n    type: base\n    trusted: false\n",
     "test.yaml:6: rules[0]: a base rule needs trusted: true, notEol: true or maxDaysBehind"),
], ids=["vulnerabilities", "config", "licence-not-a-string", "licences-none", "banned-nothing",
        "banned-a-list", "banned-unknown-field", "sbom", "base"])
def test_a_rule_that_cannot_be_read_names_the_line_field_and_why(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        policy(text)
    assert str(exc.value) == message


def test_a_base_rule_with_only_max_days_behind_is_a_rule() -> None:
    r = rule("  - {id: b, type: base, maxDaysBehind: 0}\n")
    assert r.check(evidence(base=BaseEvidence(days_behind=1)), TODAY) == Hit(
        message="the base image is 1 days behind its latest build (at most 0 allowed)")


def test_keyless_signers_are_read_with_every_field_and_named_on_error() -> None:
    r = rule(f"  - id: s\n    type: signatures\n    identities:\n"
             f"      - identity: '{WORKFLOW}'\n        issuerRegexp: '^https://token\\.'\n"
             f"        githubWorkflowRepository: org/app\n")
    (p,) = r.signing_identities()
    assert (p.identity, p.issuer_regexp, p.github_workflow_repository) == (
        WORKFLOW, "^https://token\\.", "org/app")
    with pytest.raises(PolicyError) as exc:
        policy(f"  - id: s\n    type: signatures\n    identities:\n"
               f"      - {{issuer: '{GITHUB}'}}\n")
    assert str(exc.value) == ("test.yaml:9: keyless verification needs rules[0].identities[0]."
                              "identity or rules[0].identities[0].identityRegexp")
    with pytest.raises(PolicyError) as exc:
        policy(f"  - id: s\n    type: signatures\n    identities:\n"
               f"      - {{identity: a, issuer: '{GITHUB}', subject: b}}\n")
    assert str(exc.value).startswith("test.yaml:9: rules[0].identities[0].subject: unknown field")


# -- signatures: keys and the trust root named by path -----------------------------------------


def _public_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _fingerprint(pem: bytes) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


SIGNED_BY_PATHS = ("  - id: s\n    type: signatures\n    keys:\n      - path: keys/cosign.pub\n"
                   "    trustedRoot: roots/trusted_root.json\n")


def test_key_and_trust_root_paths_are_relative_to_the_policy_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    pem = _public_pem()
    (tmp_path / "keys" / "cosign.pub").write_bytes(pem)
    p = loads(header(SIGNED_BY_PATHS), name="test.yaml", base_dir=tmp_path)
    (r,) = p.rules
    assert r.keys == (_fingerprint(pem),)  # type: ignore[attr-defined]
    assert r.verification_keys() == (str(tmp_path / "keys" / "cosign.pub"),)
    assert r.sigstore_root() == str(tmp_path / "roots" / "trusted_root.json")


def test_without_a_policy_directory_paths_are_relative_to_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "cosign.pub").write_bytes(_public_pem())
    monkeypatch.chdir(tmp_path)
    (r,) = policy(SIGNED_BY_PATHS).rules
    assert r.verification_keys() == (str(tmp_path / "keys" / "cosign.pub"),)
    assert r.sigstore_root() == str(tmp_path / "roots" / "trusted_root.json")
    (plain,) = policy(f"  - {{id: s, type: signatures, keys: ['{KEY_A}']}}\n").rules
    assert plain.sigstore_root() == ""


def test_a_key_file_that_is_no_pem_public_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "cosign.pub").write_text("not a key\n")
    with pytest.raises(PolicyError) as exc:
        loads(header(SIGNED_BY_PATHS), name="test.yaml", base_dir=tmp_path)
    assert str(exc.value) == (f"test.yaml:9: rules[0].keys[0].path: "
                              f"{tmp_path / 'keys' / 'cosign.pub'} is not a PEM public key")


# -- CEL ---------------------------------------------------------------------------------------


def test_a_cel_expression_must_not_be_empty_and_may_be_16_kib_long() -> None:
    with pytest.raises(PolicyError) as exc:
        policy("  - id: c\n    type: cel\n    expression: ''\n")
    assert str(exc.value) == "test.yaml:8: rules[0].expression: must not be empty"
    longest = "image.ref != '" + "a" * (MAX_EXPRESSION - 15) + "'"
    assert len(longest) == MAX_EXPRESSION
    (r,) = policy(f"  - id: c\n    type: cel\n    expression: \"{longest}\"\n").rules
    assert r.check(evidence(), TODAY) is None


@pytest.mark.parametrize("steps, nesting, says", [
    (2_000_000, ("all",), "2,000,000 steps for an image with 1,000 packages or findings, over the "
                          "budget of 1,000,000; avoid"),
    (10**15 - 1, ("all", "exists"), "999,999,999,999,999 steps for an image with 1,000 packages "
                                     "or findings, over the budget of 1,000,000 (exists inside all "
                                     "over evidence lists); avoid"),
    (10**15, ("all", "map", "exists"), "more than 10^15 steps for an image with 1,000 packages "
                                       "or findings, over the budget of 1,000,000 (exists inside "
                                       "map inside all over evidence lists); avoid"),
], ids=["one-level", "two-levels", "beyond-10^15"])
def test_a_cel_rule_over_the_budget_says_how_far_and_which_macros_nest(
        steps: int, nesting: tuple[str, ...], says: str) -> None:
    assert _unbounded(celcost.Estimate(steps=steps, nesting=nesting)) == (
        f"evaluation cost cannot be bounded: {says} nesting comprehensions over the evidence")


def test_a_key_may_be_written_as_a_fingerprint_mapping() -> None:
    (r,) = policy(f"  - id: s\n    type: signatures\n    keys:\n      - fingerprint: '{KEY_A}'\n").rules
    assert (r.keys, r.key_names, r.verification_keys()) == (  # type: ignore[attr-defined]
        (KEY_A,), (KEY_A,), ())


@pytest.mark.parametrize("key, message", [
    (f"{{fingerprint: '{KEY_A}', path: k.pub}}",
     "rules[0].keys[0]: a key needs exactly one of fingerprint or path"),
    ("{}", "rules[0].keys[0]: a key needs exactly one of fingerprint or path"),
    (f"{{fingerprint: '{KEY_A}', size: 256}}",
     "rules[0].keys[0].size: unknown field; expected one of fingerprint, path"),
], ids=["both", "neither", "unknown-field"])
def test_a_key_mapping_needs_exactly_one_of_fingerprint_or_path(key: str, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        policy(f"  - id: s\n    type: signatures\n    keys:\n      - {key}\n")
    assert str(exc.value) == f"test.yaml:9: {message}"


def test_a_signatures_rule_needs_something_to_check() -> None:
    with pytest.raises(PolicyError) as exc:
        policy("  - id: s\n    type: signatures\n    require: all\n")
    assert str(exc.value) == ("test.yaml:6: rules[0]: a signatures rule needs keys, identities "
                              "or attestations")


def test_a_cel_rule_sees_each_finding_s_age_on_the_day_of_the_check() -> None:
    r = rule("  - {id: c, type: cel, expression: 'vulnerabilities.all(v, v.ageDays < 30)',"
             " message: too old}\n")
    young = vuln("CVE-1", published=TODAY - timedelta(days=29))
    assert r.check(evidence(vulnerabilities=(young,)), TODAY) is None
    assert r.check(evidence(vulnerabilities=(young,)), TODAY + timedelta(days=1)) == Hit(
        message="too old")


def test_a_cel_rule_needs_only_the_evidence_its_words_name() -> None:
    # "Xbase" is one word, not "base": the rule does not need the base evidence.
    r = rule("  - {id: c, type: cel, expression: \"image.ref != 'Xbase'\"}\n")
    assert r.needs() == ()
    assert r.check(evidence(base=None), TODAY) is None
