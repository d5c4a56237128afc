"""Each rule type describes itself (its YAML word and fields, the evidence it needs, its check)
and is registered once, in ``policy.rules.RULE_TYPES``: the loader and ``Policy.needs`` read
the classes, not tables of their own."""

from __future__ import annotations

import pytest

from hullcheck.policy import RULE_TYPES, Need, PolicyError, Rule
from tests.policy._build import TODAY, evidence, header, policy

COMMON = ("id", "type", "action", "description")


def test_the_registry_lists_each_type_once() -> None:
    assert [r.TYPE for r in RULE_TYPES] == ["vulnerabilities", "secrets", "config", "licenses",
                                            "sbom", "signatures", "base", "cel"]
    for rule_type in RULE_TYPES:
        assert issubclass(rule_type, Rule)
        assert rule_type.FIELDS and not set(rule_type.FIELDS) & set(COMMON)


@pytest.mark.parametrize("rule_type", RULE_TYPES, ids=lambda r: r.TYPE)
def test_the_loader_accepts_exactly_the_fields_a_type_declares(rule_type: type[Rule]) -> None:
    text = header(f"  - id: r\n    type: {rule_type.TYPE}\n    bogus: 1\n")
    expected = ", ".join(COMMON + rule_type.FIELDS)
    with pytest.raises(PolicyError, match=f"test.yaml:8: rules\\[0\\].bogus: unknown field for a "
                                          f"{rule_type.TYPE} rule; expected one of {expected}$"):
        policy(text.split("rules:\n", 1)[1])


def test_an_unknown_type_names_the_registered_ones() -> None:
    with pytest.raises(PolicyError, match="unknown rule type 'nope'; one of vulnerabilities, "
                                          "secrets, config, licenses, sbom, signatures, base, cel"):
        policy("  - id: r\n    type: nope\n")


def test_each_rule_says_what_it_needs() -> None:
    p = policy("""\
  - {id: v, type: vulnerabilities, severity: high}
  - {id: s, type: secrets}
  - {id: c, type: config, ids: [HC-C001]}
  - {id: l, type: licenses, deny: [GPL-3.0-only]}
  - {id: b, type: sbom, required: true}
  - {id: k, type: signatures, keys: ["sha256:""" + "ab" * 32 + """"], attestations: [x]}
  - {id: a, type: signatures, attestations: [x]}
  - {id: e, type: base, notEol: true}
  - {id: x, type: cel, expression: "packages.size() > 0 && base.trusted == true"}
  - {id: i, type: cel, expression: "image.ref != ''"}
""")
    assert {r.id: r.needs() for r in p.rules} == {
        "v": (Need.VULNERABILITIES,), "s": (Need.SECRETS,), "c": (Need.CONFIG,),
        "l": (Need.PACKAGES,), "b": (Need.PACKAGES,),
        "k": (Need.SIGNATURES, Need.ATTESTATIONS), "a": (Need.ATTESTATIONS,),
        "e": (Need.BASE,), "x": (Need.PACKAGES, Need.BASE), "i": (),
    }
    assert p.needs() == frozenset(Need)


def test_a_rule_checks_evidence_itself() -> None:
    (rule,) = policy("  - {id: b, type: sbom, banned: [openssl]}\n").rules
    hit = rule.check(evidence(), TODAY)
    assert hit is not None and [i.id for i in hit.items] == ["openssl"] and hit.itemised
    assert rule.check(evidence(packages=()), TODAY) is None
    missing = rule.check(evidence(packages=None, notes=("packages: no image",)), TODAY)
    assert missing is not None and missing.message == (
        "packages evidence was not gathered, so this rule cannot pass (packages: no image)")


def test_a_cel_rule_converts_only_the_evidence_lists_it_names() -> None:
    from hullcheck.policy import cel

    (rule,) = policy("  - {id: x, type: cel, expression: \"packages.all(p, p.visible)\"}\n").rules
    assert rule.needs() == (Need.PACKAGES,)
    variables = cel.activation(evidence(), TODAY, [n.value for n in rule.needs()])
    assert set(variables) == {"image", "base", "severityRank", "packages"}
    assert rule.check(evidence(), TODAY) is None
    assert set(cel.activation(evidence(), TODAY)) == {
        "image", "base", "severityRank", "packages", "vulnerabilities", "secrets", "config",
        "signatures", "attestations"}
