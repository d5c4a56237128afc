"""Every rule type passes and fails; waivers and their expiry; CEL errors; missing evidence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hullcheck.match.model import Status
from hullcheck.model import Severity
from hullcheck.policy import (
    AttestationEvidence,
    BaseEvidence,
    ConfigEvidence,
    Decision,
    Outcome,
    SecretEvidence,
    SignatureEvidence,
    evaluate,
)
from tests.policy._build import TODAY, evidence, pkg, policy, vuln

KEY_A = "sha256:" + "1" * 64
KEY_B = "sha256:" + "2" * 64


def decide(rules: str, waivers: str = "", **ev: object) -> Decision:
    return evaluate(evidence(**ev), policy(rules, waivers), now=TODAY)


def rules_hit(d: Decision) -> list[str]:
    return [v.rule for v in d.violations]


# -- vulnerabilities --------------------------------------------------------------------------

VULN_HIGH = "  - id: no-high\n    type: vulnerabilities\n    severity: high\n"


def test_severity_threshold_passes_below_and_fails_at_or_above() -> None:
    d = decide(VULN_HIGH, vulnerabilities=(vuln("CVE-2024-1", Severity.MEDIUM),))
    assert d.outcome is Outcome.PASS and d.violations == ()
    d = decide(VULN_HIGH, vulnerabilities=(vuln("CVE-2024-1", Severity.MEDIUM),
                                           vuln("CVE-2024-2", Severity.CRITICAL)))
    assert d.outcome is Outcome.FAIL
    (v,) = d.violations
    assert v.rule == "no-high" and [i.id for i in v.items] == ["CVE-2024-2"]
    assert "CVE-2024-2 (openssl 3.0.11, critical)" in v.message


def test_only_with_fix() -> None:
    rules = "  - id: fixable\n    type: vulnerabilities\n    severity: low\n    onlyWithFix: true\n"
    assert decide(rules, vulnerabilities=(vuln("CVE-1"),)).outcome is Outcome.PASS
    d = decide(rules, vulnerabilities=(vuln("CVE-1"), vuln("CVE-2", fixed=("3.0.13",))))
    assert [i.id for i in d.violations[0].items] == ["CVE-2"]
    assert "fixed in 3.0.13" in d.violations[0].message


def test_kev_and_malicious() -> None:
    rules = ("  - id: kev\n    type: vulnerabilities\n    kev: true\n"
             "  - id: malware\n    type: vulnerabilities\n    malicious: true\n")
    clean = decide(rules, vulnerabilities=(vuln("CVE-1", Severity.CRITICAL),))
    assert clean.outcome is Outcome.PASS
    d = decide(rules, vulnerabilities=(
        vuln("CVE-1", kev=True),
        vuln("MAL-2024-9", Severity.MALICIOUS, package="evil", status=Status.MALICIOUS)))
    assert rules_hit(d) == ["kev", "malware"]
    assert [i.id for i in d.violations[1].items] == ["MAL-2024-9"]


def test_advisory_age() -> None:
    rules = "  - id: old\n    type: vulnerabilities\n    severity: high\n    minAgeDays: 30\n"
    fresh = vuln("CVE-new", published=TODAY - timedelta(days=5))
    old = vuln("CVE-old", published=TODAY - timedelta(days=45))
    unknown = vuln("CVE-undated")
    assert decide(rules, vulnerabilities=(fresh,)).outcome is Outcome.PASS
    d = decide(rules, vulnerabilities=(fresh, old, unknown))
    # An advisory whose date is unknown counts: it cannot be shown to be young.
    assert [i.id for i in d.violations[0].items] == ["CVE-old", "CVE-undated"]


def test_vex_suppressed_finding_is_listed_not_violating() -> None:
    d = decide(VULN_HIGH, vulnerabilities=(vuln("CVE-1", suppressed_by="vex:app.vex.json"),))
    assert d.outcome is Outcome.PASS
    (w,) = d.waived
    assert w.item is not None
    assert (w.rule, w.item.id, w.by) == ("no-high", "CVE-1", "vex:app.vex.json")


# -- secrets, config ----------------------------------------------------------------------------


def test_secrets_any_and_by_severity() -> None:
    any_rule = "  - id: no-secrets\n    type: secrets\n"
    assert decide(any_rule).outcome is Outcome.PASS
    hidden = SecretEvidence(rule="aws-access-key", severity=Severity.CRITICAL, path="/root/.aws/x",
                            layer=1, visible=False)
    d = decide(any_rule, secrets=(hidden,))
    assert d.outcome is Outcome.FAIL
    assert "deleted by a later layer but still shipped" in d.violations[0].message
    visible_only = "  - id: s\n    type: secrets\n    includeHidden: false\n"
    assert decide(visible_only, secrets=(hidden,)).outcome is Outcome.PASS
    crit = "  - id: s\n    type: secrets\n    severity: critical\n"
    low = SecretEvidence(rule="generic-password", severity=Severity.MEDIUM, path="/etc/app.conf")
    assert decide(crit, secrets=(low,)).outcome is Outcome.PASS
    assert decide(crit, secrets=(low, hidden)).violations[0].items[0].id == "aws-access-key"


def test_config_by_id_and_severity() -> None:
    rules = "  - id: cfg\n    type: config\n    ids: [HC-C001]\n    severity: high\n"
    ok = (ConfigEvidence(id="HC-C002", severity=Severity.LOW, title="no HEALTHCHECK"),)
    assert decide(rules, config=ok).outcome is Outcome.PASS
    bad = (*ok, ConfigEvidence(id="HC-C001", severity=Severity.MEDIUM, title="runs as root"),
                ConfigEvidence(id="HC-C009", severity=Severity.HIGH, title="curl | sh"))
    d = decide(rules, config=bad)
    assert [i.id for i in d.violations[0].items] == ["HC-C001", "HC-C009"]


# -- licences, sbom -----------------------------------------------------------------------------


def test_licence_deny_list_over_expressions() -> None:
    rules = "  - id: lic\n    type: licenses\n    deny: [GPL-3.0-only, AGPL-3.0-or-later]\n"
    ok = (pkg("a", "1", "MIT"), pkg("b", "1", "GPL-3.0-only OR MIT"), pkg("c", "1"))
    assert decide(rules, packages=ok).outcome is Outcome.PASS
    d = decide(rules, packages=(*ok, pkg("d", "2", "MIT AND GPL-3.0"),
                                pkg("e", "1", "MIT", "AGPL-3.0-or-later")))
    assert [i.id for i in d.violations[0].items] == ["d", "e"]


def test_licence_allow_list_and_unknown() -> None:
    rules = ("  - id: lic\n    type: licenses\n    allow: [MIT, Apache-2.0, BSD-3-Clause]\n"
             "    requireKnown: true\n")
    assert decide(rules, packages=(pkg("a", "1", "MIT OR GPL-2.0-only"),)).outcome is Outcome.PASS
    d = decide(rules, packages=(pkg("a", "1", "MIT"), pkg("b", "1", "GPL-2.0-only"), pkg("c"),
                                pkg("d", "1", "MIT AND (")))
    items = {i.id: i.detail for i in d.violations[0].items}
    assert set(items) == {"b", "c", "d"}
    assert "no licence known" in items["c"] and "cannot be read" in items["d"]


def test_sbom_required_and_banned() -> None:
    required = "  - id: sbom\n    type: sbom\n    required: true\n"
    assert decide(required).outcome is Outcome.PASS
    d = decide(required, packages=())
    assert "SBOM is empty" in d.violations[0].message
    banned = ("  - id: banned\n    type: sbom\n    banned:\n      - xz-utils\n"
              "      - purl: 'pkg:npm/event-stream@*'\n        reason: compromised\n")
    assert decide(banned).outcome is Outcome.PASS
    d = decide(banned, packages=(pkg("xz-utils", "5.6.0"),
                                 pkg("event-stream", "3.3.6", type="npm"), pkg("zlib")))
    assert [i.id for i in d.violations[0].items] == ["xz-utils", "event-stream"]
    assert "compromised" in d.violations[0].message


# -- signatures, attestations, base ----------------------------------------------------------


def test_signature_any_and_all_keys() -> None:
    anyk = f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}', '{KEY_B}']\n"
    signed_a = (SignatureEvidence(key_fingerprint=KEY_A, verified=True),)
    assert decide(anyk, signatures=signed_a).outcome is Outcome.PASS
    d = decide(anyk, signatures=())
    assert "not signed by any required key" in d.violations[0].message
    allk = anyk + "    require: all\n"
    d = decide(allk, signatures=signed_a)
    assert d.violations[0].message == f"no verified signature by {KEY_B}"


def test_attestations_required() -> None:
    rules = ("  - id: att\n    type: signatures\n    attestations:\n"
             "      - https://cyclonedx.org/bom\n")
    ok = (AttestationEvidence(predicate_type="https://cyclonedx.org/bom", key_fingerprint=KEY_A),)
    assert decide(rules, attestations=ok).outcome is Outcome.PASS
    d = decide(rules, attestations=(AttestationEvidence(predicate_type="https://slsa.dev/provenance/v1"),))
    assert "no verified attestation of type https://cyclonedx.org/bom" in d.violations[0].message


def test_base_rules() -> None:
    rules = ("  - id: base\n    type: base\n    trusted: true\n    notEol: true\n"
             "    maxDaysBehind: 30\n")
    assert decide(rules).outcome is Outcome.PASS
    d = decide(rules, base=BaseEvidence(name="debian:10", trusted=False, eol=True, days_behind=90))
    msg = d.violations[0].message
    assert "not trusted" in msg and "end of life" in msg and "90 days behind" in msg
    d = decide(rules, base=BaseEvidence())
    assert "unknown" in d.violations[0].message


@pytest.mark.parametrize("field", ["vulnerabilities", "secrets", "config", "packages",
                                   "signatures", "base"])
def test_missing_evidence_never_passes(field: str) -> None:
    rules = {
        "vulnerabilities": "  - id: r\n    type: vulnerabilities\n    severity: critical\n",
        "secrets": "  - id: r\n    type: secrets\n",
        "config": "  - id: r\n    type: config\n    severity: high\n",
        "packages": "  - id: r\n    type: sbom\n    required: true\n",
        "signatures": f"  - id: r\n    type: signatures\n    keys: ['{KEY_A}']\n",
        "base": "  - id: r\n    type: base\n    trusted: true\n",
    }[field]
    # not decide(rules, **{field: None}): a dict unpacked there could also bind ``waivers``
    d = evaluate(evidence(**{field: None}), policy(rules), now=TODAY)
    assert d.outcome is Outcome.FAIL
    assert "evidence was not gathered" in d.violations[0].message


# -- actions, CEL -------------------------------------------------------------------------------


def test_warn_action_gives_warn_outcome() -> None:
    d = decide("  - id: w\n    type: vulnerabilities\n    severity: low\n    action: warn\n",
               vulnerabilities=(vuln("CVE-1"),))
    assert d.outcome is Outcome.WARN and d.failed == ()


def test_cel_rule_true_false() -> None:
    rule = ("  - id: registry\n    type: cel\n    expression: image.ref.startsWith('registry.example/')"
            "\n    message: images must come from registry.example\n")
    assert decide(rule).outcome is Outcome.PASS
    d = decide(rule.replace("registry.example/'", "other.example/'"))
    assert d.violations[0].message == "images must come from registry.example"
    count = ("  - id: few-high\n    type: cel\n    expression: >-\n"
             "      vulnerabilities.filter(v, severityRank[v.severity] >= severityRank['high'])"
             ".size() < 2\n")
    assert decide(count, vulnerabilities=(vuln("CVE-1"),)).outcome is Outcome.PASS
    assert decide(count, vulnerabilities=(vuln("CVE-1"), vuln("CVE-2"))).outcome is Outcome.FAIL


@pytest.mark.parametrize(("expression", "fragment"), [
    ("1 / 0 == 1", "CEL evaluation error"),
    ("image.nosuchfield == 'x'", "CEL evaluation error"),
    ("size(secrets) == 0", "secrets evidence was not gathered"),  # null, not "none"
    ("image.ref", "not a bool"),
])
def test_cel_errors_are_violations(expression: str, fragment: str) -> None:
    d = decide(f"  - id: c\n    type: cel\n    expression: \"{expression}\"\n", secrets=None)
    assert d.outcome is Outcome.FAIL
    assert d.violations[0].rule == "c" and fragment in d.violations[0].message


# -- waivers ------------------------------------------------------------------------------------

TWO_VULNS = (vuln("CVE-2024-1", aliases=("GHSA-aaaa-bbbb-cccc",)),
             vuln("CVE-2024-2", package="zlib"))


def test_vulnerability_waiver_by_alias_and_package() -> None:
    waivers = ("  - vulnerability: GHSA-aaaa-bbbb-cccc\n    package: openssl\n"
               "    reason: not reachable\n    expires: 2025-12-31\n")
    d = decide(VULN_HIGH, waivers, vulnerabilities=TWO_VULNS)
    assert [i.id for i in d.violations[0].items] == ["CVE-2024-2"]
    assert "(1 more waived)" in d.violations[0].message
    (w,) = d.waived
    assert w.item is not None
    assert (w.item.id, w.reason, w.expires) == ("CVE-2024-1", "not reachable", date(2025, 12, 31))
    assert w.by == "waiver test.yaml:10"


def test_waiver_package_scope_does_not_leak() -> None:
    waivers = ("  - vulnerability: CVE-2024-1\n    package: zlib\n"
               "    reason: wrong package\n    expires: 2025-12-31\n")
    d = decide(VULN_HIGH, waivers, vulnerabilities=TWO_VULNS)
    assert len(d.violations[0].items) == 2 and d.waived == ()


def test_rule_waiver_with_image_scope() -> None:
    rules = f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
    scoped = ("  - rule: signed\n    images: ['registry.example/shop/*']\n"
              "    reason: legacy app\n    expires: 2025-07-01\n")
    d = decide(rules, scoped)
    assert d.outcome is Outcome.PASS and d.waived[0].rule == "signed"
    other = scoped.replace("registry.example/shop/*", "registry.example/other/*")
    assert decide(rules, other).outcome is Outcome.FAIL


def test_expired_waiver_stops_waiving_and_says_so() -> None:
    waivers = ("  - rule: no-high\n    reason: until the rebuild\n    expires: 2025-05-31\n")
    d = decide(VULN_HIGH, waivers, vulnerabilities=TWO_VULNS)
    assert d.outcome is Outcome.FAIL and d.waived == ()
    (e,) = d.expired_waivers
    assert e.waiver.expires == date(2025, 5, 31)
    assert e.would_waive == ("no-high: CVE-2024-1 (openssl 3.0.11, high)",
                             "no-high: CVE-2024-2 (zlib 3.0.11, high)")
    # The expiry day itself still waives.
    d = evaluate(evidence(vulnerabilities=TWO_VULNS), policy(VULN_HIGH, waivers),
                 now=date(2025, 5, 31))
    assert d.outcome is Outcome.PASS and len(d.waived) == 2 and d.expired_waivers == ()


# -- messages and waiver scope that mutation testing found unpinned -----------------------------


@pytest.mark.parametrize(("count", "tail"), [(5, ""), (6, " and 1 more"), (8, " and 3 more")])
def test_a_violation_names_five_items_and_counts_the_rest(count: int, tail: str) -> None:
    vulns = tuple(vuln(f"CVE-2024-{i}", package=f"p{i}") for i in range(count))
    (v,) = decide(VULN_HIGH, vulnerabilities=vulns).violations
    shown = ", ".join(f"CVE-2024-{i} (p{i} 3.0.11, high)" for i in range(5))
    assert v.message.endswith(f": {shown}{tail}")
    assert len(v.items) == count


def test_a_waiver_for_another_rule_waives_nothing_here() -> None:
    other = f"  - id: other-rule\n    type: signatures\n    keys: ['{KEY_A}']\n"
    waivers = "  - rule: other-rule\n    reason: elsewhere\n    expires: 2025-12-31\n"
    d = decide(VULN_HIGH + other, waivers, vulnerabilities=TWO_VULNS)
    assert d.outcome is Outcome.FAIL and rules_hit(d) == ["no-high"]
    assert [(w.rule, w.item) for w in d.waived] == [("other-rule", None)]


@pytest.mark.parametrize("scope", ["    vulnerability: CVE-2024-1\n", "    package: openssl\n"])
def test_a_narrowed_waiver_does_not_waive_a_whole_rule(scope: str) -> None:
    rules = f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
    waivers = f"  - rule: signed\n{scope}    reason: narrowed\n    expires: 2025-12-31\n"
    d = decide(rules, waivers)
    assert d.outcome is Outcome.FAIL and d.waived == ()


def test_a_waiver_built_in_code_is_named_plainly() -> None:
    from dataclasses import replace

    from hullcheck.policy.model import Waiver

    waiver = Waiver(reason="in code", expires=date(2025, 12, 31), rule="no-high")
    d = evaluate(evidence(vulnerabilities=TWO_VULNS),
                 replace(policy(VULN_HIGH), waivers=(waiver,)), now=TODAY)
    assert d.outcome is Outcome.PASS and [w.by for w in d.waived] == ["waiver", "waiver"]


def test_now_may_be_a_datetime() -> None:
    from datetime import datetime

    waivers = "  - rule: no-high\n    reason: until the rebuild\n    expires: 2025-06-01\n"
    d = evaluate(evidence(vulnerabilities=TWO_VULNS), policy(VULN_HIGH, waivers),
                 now=datetime(2025, 6, 1, 23, 59))
    assert d.outcome is Outcome.PASS and d.evaluated_on == date(2025, 6, 1)


def test_expired_waivers_list_what_they_would_waive_in_their_scope() -> None:
    narrowed = ("  - vulnerability: CVE-2024-1\n    reason: r\n    expires: 2025-05-31\n"
                "  - rule: signed\n    reason: r\n    expires: 2025-05-31\n"
                "  - rule: signed\n    images: ['elsewhere/*']\n    reason: r\n    expires: 2025-05-31\n")
    rules = VULN_HIGH + f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
    d = decide(rules, narrowed, vulnerabilities=TWO_VULNS)
    assert [e.would_waive for e in d.expired_waivers] == [
        ("no-high: CVE-2024-1 (openssl 3.0.11, high)",), ("signed",)]


def test_messages_count_what_is_left_and_what_was_waived_and_carry_the_description() -> None:
    rules = VULN_HIGH.replace("    severity: high\n", "    severity: high\n"
                              "    description: patch or waive\n")
    (v,) = decide(rules, vulnerabilities=TWO_VULNS).violations
    assert v.message == ("2 finding(s) at or above high: CVE-2024-1 (openssl 3.0.11, high), "
                         "CVE-2024-2 (zlib 3.0.11, high)")
    assert v.description == "patch or waive"
    waivers = "  - vulnerability: CVE-2024-1\n    reason: not reachable\n    expires: 2025-12-31\n"
    d = decide(rules, waivers, vulnerabilities=TWO_VULNS)
    (v,) = d.violations
    assert v.message == "1 finding(s) at or above high (1 more waived): CVE-2024-2 (zlib 3.0.11, high)"
    assert [(w.rule, w.reason) for w in d.waived] == [("no-high", "not reachable")]


def test_rules_after_a_wholly_waived_rule_are_still_checked() -> None:
    rules = VULN_HIGH + f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
    waivers = "  - rule: no-high\n    reason: r\n    expires: 2025-12-31\n"
    d = decide(rules, waivers, vulnerabilities=TWO_VULNS)
    assert rules_hit(d) == ["signed"] and len(d.waived) == 2


def test_a_vex_suppression_keeps_its_reason() -> None:
    d = decide(VULN_HIGH, vulnerabilities=(vuln("CVE-1", suppressed_by="vex:app.vex.json"),))
    assert [(w.by, w.reason) for w in d.waived] == [("vex:app.vex.json", "vendor says so")]


def test_a_whole_rule_waiver_is_listed_with_where_why_and_until_when() -> None:
    rules = f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
    waivers = "  - rule: signed\n    reason: legacy app\n    expires: 2025-07-01\n"
    (w,) = decide(rules, waivers).waived
    assert (w.rule, w.item, w.by, w.reason, w.expires) == (
        "signed", None, "waiver test.yaml:10", "legacy app", date(2025, 7, 1))


def test_rules_after_a_waived_whole_rule_are_still_checked_and_carry_descriptions() -> None:
    rules = (f"  - id: signed\n    type: signatures\n    keys: ['{KEY_A}']\n"
             f"  - id: signed-b\n    type: signatures\n    keys: ['{KEY_B}']\n"
             "    description: the release key\n")
    waivers = "  - rule: signed\n    reason: r\n    expires: 2025-12-31\n"
    d = decide(rules, waivers)
    assert rules_hit(d) == ["signed-b"] and d.violations[0].description == "the release key"
