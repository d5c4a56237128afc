"""Mutated real policies: whatever a field holds, loading ends in a one-line PolicyError
(file:line and field) or a policy, never another exception."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hullcheck.policy import PolicyError, cel, loads

cel.compile_expression("true")  # cel-python raises the recursion limit once: not mid-test
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "policy"

# Every rule type and field, so each field's reader gets mutated.
EVERY_FIELD = """\
apiVersion: hullcheck/v1
kind: Policy
metadata:
  name: every-field
  description: one of each
rules:
  - id: v
    type: vulnerabilities
    action: warn
    description: d
    severity: high
    onlyWithFix: true
    kev: false
    malicious: false
    minAgeDays: 30
  - id: s
    type: secrets
    severity: medium
    includeHidden: false
  - id: c
    type: config
    ids: [HC-001, HC-002]
    severity: low
  - id: l
    type: licenses
    deny: [GPL-3.0-only]
    requireKnown: true
  - id: b
    type: sbom
    required: true
    banned: [evil, {name: bad, purl: "pkg:npm/bad", reason: r}]
  - id: k
    type: signatures
    keys: [{fingerprint: "sha256:abababababababababababababababababababababababababababababababab"}]
    require: all
    attestations: [https://slsa.dev/provenance/v1]
  - id: base
    type: base
    trusted: true
    notEol: true
    maxDaysBehind: 30
  - id: x
    type: cel
    expression: size(packages) > 0
    message: m
waivers:
  - rule: v
    vulnerability: CVE-2024-1
    images: ["registry.example/*"]
    package: openssl
    reason: r
    expires: 2030-01-01
"""

SOURCES = [EVERY_FIELD] + [p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))]

# Values that have broken YAML readers: YAML 1.1 ints Python's int() refuses, huge numbers,
# tags, anchors, nulls, containers where scalars go and scalars where containers go.
TRICKY = ["010", "1:30", "0x1F", "0o17", "0b101", "+5", "-1", "9" * 5000, "1e400", ".inf",
          ".nan", "~", "null", "", "yes", "on", "No", "!!binary aGk=", "!custom x",
          "!!python/object:os.system x", "!!int x", "!!bool maybe", "!!str", "!!timestamp x",
          "&a x", "*a", "*missing", "[", "{", "[]", "{}", "[[[]]]", "{a: {b: {c: d}}}",
          "[1, [2, {3: 4}]]", "2024-13-45", "2024-02-30", "2024-01-01 10:00:00",
          "'\\x00'", '"\\u0000"', "\t", "? a\n  : b", "|\n  block", "- a\n- b",
          "{id: x, type: cel, expression: '1 +'}", "sha256:zz", "{path: /dev/null}",
          "{fingerprint: x, path: y}", "size(", "packages.all(p, packages.all(q, true))"]

_VALUE = re.compile(r"^(\s*(?:- )?[A-Za-z]+:)( .*)?$", re.MULTILINE)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real policy with up to four field values replaced by tricky or random text."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        spots = list(_VALUE.finditer(text))
        spot = spots[draw(st.integers(0, len(spots) - 1))]
        value = draw(st.sampled_from(TRICKY) | st.text(max_size=12))
        text = text[:spot.start()] + f"{spot.group(1)} {value}" + text[spot.end():]
    return text


def _load(text: str) -> None:
    try:
        loads(text, name="p.yaml", base_dir=EXAMPLES)
    except PolicyError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("p.yaml"), message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@example(EVERY_FIELD.replace("minAgeDays: 30", "minAgeDays: 010"))
@example(EVERY_FIELD.replace("minAgeDays: 30", "minAgeDays: 1:30"))
@example(EVERY_FIELD.replace("maxDaysBehind: 30", "maxDaysBehind: " + "9" * 5000))
def test_mutated_policies_fail_in_one_line(text: str) -> None:
    _load(text)


def test_integers_python_cannot_read_are_errors_with_the_line() -> None:
    for value in ("010", "1:30", "9" * 5000):
        text = EVERY_FIELD.replace("minAgeDays: 30", f"minAgeDays: {value}")
        try:
            loads(text, name="p.yaml")
        except PolicyError as exc:
            assert str(exc).startswith("p.yaml:15: rules[0].minAgeDays: must be a whole number")
        else:
            raise AssertionError(f"minAgeDays: {value[:10]} was accepted")
