"""The policy model: rules over the evidence, and waivers with a reason and an expiry.

    apiVersion: hullcheck/v1
    kind: Policy
    metadata: {name: production}
    rules:   [ {id, type, action: fail|warn, description, ...type fields} ]
    waivers: [ {rule and/or vulnerability, images, package, reason, expires} ]

Every value is validated when the file is loaded (``policy.load``); a ``Policy`` in
hand is well formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from hullcheck.match.model import Level
from hullcheck.sign.identity import IdentityPolicy

API_VERSION = "hullcheck/v1"
KIND = "Policy"


class Action(StrEnum):
    FAIL = "fail"
    WARN = "warn"


class Need(StrEnum):
    """Kinds of evidence; a policy says which it needs so callers gather only those."""

    PACKAGES = "packages"
    VULNERABILITIES = "vulnerabilities"
    SECRETS = "secrets"
    CONFIG = "config"
    SIGNATURES = "signatures"
    ATTESTATIONS = "attestations"
    BASE = "base"


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a rule or waiver was written: for messages."""

    file: str = ""
    line: int = 0  # 1-based; 0 when built in code

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleBase:
    id: str
    action: Action = Action.FAIL
    description: str = ""
    where: Source = Source()


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnerabilityRule(RuleBase):
    """A finding violates when it passes every filter given."""

    severity: Level | None = None  # at or above this level
    only_with_fix: bool = False  # only findings that have a fixed version
    kev: bool = False  # only findings in CISA KEV
    malicious: bool = False  # only malicious-package findings
    min_age_days: int | None = None  # only advisories published at least N days ago


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRule(RuleBase):
    severity: Level | None = None  # at or above; None = any secret
    include_hidden: bool = True  # secrets deleted by a later layer still ship


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRule(RuleBase):
    ids: tuple[str, ...] = ()  # these check ids violate...
    severity: Level | None = None  # ...and so does any check at or above this level


class LicenseMode(StrEnum):
    DENY = "deny"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseRule(RuleBase):
    mode: LicenseMode
    licenses: tuple[str, ...]  # SPDX ids, normalised
    require_known: bool = False  # a package without any licence violates


@dataclass(frozen=True, slots=True, kw_only=True)
class BannedPackage:
    name: str = ""  # glob over the package name
    purl: str = ""  # glob over the purl
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomRule(RuleBase):
    required: bool = False  # the inventory must list at least one package
    banned: tuple[BannedPackage, ...] = ()


class Require(StrEnum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureRule(RuleBase):
    keys: tuple[str, ...] = ()  # normalised fingerprints (from the file or from PEM paths)
    key_names: tuple[str, ...] = ()  # how each key was written, for messages
    key_files: tuple[str, ...] = ()  # PEM public keys (absolute paths) to verify signatures with
    require: Require = Require.ANY
    attestations: tuple[str, ...] = ()  # predicate types that must be present and verified
    identities: tuple[IdentityPolicy, ...] = ()  # keyless signers (Fulcio/Rekor), like keys
    trusted_root: str = ""  # Sigstore trusted_root.json (absolute path); "": production root


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseRule(RuleBase):
    trusted: bool = False  # the base must be known and trusted
    not_eol: bool = False  # the base release must not be end of life
    max_days_behind: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CelRule(RuleBase):
    """Passes when ``expression`` evaluates to true over the evidence; false is a
    violation with ``message``; an evaluation error is a violation with the error."""

    expression: str
    message: str = ""
    program: Any = None  # the compiled celpy program (compiled at load time)


Rule = (VulnerabilityRule | SecretRule | ConfigRule | LicenseRule | SbomRule | SignatureRule
        | BaseRule | CelRule)


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    reason: str
    expires: date
    rule: str = ""  # a rule id ...
    vulnerability: str = ""  # ... and/or a vulnerability id (or alias)
    images: tuple[str, ...] = ()  # globs over the image reference; empty = any image
    package: str = ""  # a glob over package name or purl; "" = any
    where: Source = Source()

    def describe(self) -> str:
        parts = [f"rule {self.rule}" if self.rule else "",
                 self.vulnerability, f"package {self.package}" if self.package else "",
                 f"images {', '.join(self.images)}" if self.images else ""]
        return "waiver " + " / ".join(p for p in parts if p) + f" (expires {self.expires})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    waivers: tuple[Waiver, ...] = ()
    source: str = ""

    def needs(self) -> frozenset[Need]:
        """The kinds of evidence the rules look at."""
        return frozenset(n for r in self.rules for n in rule_needs(r))

    def verification_keys(self) -> tuple[str, ...]:
        """PEM public key files the signature rules name: signatures are verified with these
        (a key given only by fingerprint can be matched, not used to verify)."""
        return tuple(dict.fromkeys(k for r in self.rules if isinstance(r, SignatureRule)
                                   for k in r.key_files))

    def signing_identities(self) -> tuple[IdentityPolicy, ...]:
        """The keyless signers the signature rules accept, each verified on its own."""
        return tuple(dict.fromkeys(i for r in self.rules if isinstance(r, SignatureRule)
                                   for i in r.identities))

    def trusted_root(self) -> str:
        """The Sigstore trusted root the signature rules name ("" for the production root)."""
        return next((r.trusted_root for r in self.rules
                     if isinstance(r, SignatureRule) and r.trusted_root), "")

    def attestation_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for r in self.rules if isinstance(r, SignatureRule)
                                   for t in r.attestations))

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


_NEEDS: dict[type, tuple[Need, ...]] = {
    VulnerabilityRule: (Need.VULNERABILITIES,),
    SecretRule: (Need.SECRETS,),
    ConfigRule: (Need.CONFIG,),
    LicenseRule: (Need.PACKAGES,),
    SbomRule: (Need.PACKAGES,),
    BaseRule: (Need.BASE,),
}

_CEL_NAMES = {n.value: n for n in Need}


def rule_needs(rule: Rule) -> tuple[Need, ...]:
    if isinstance(rule, SignatureRule):
        return ((Need.SIGNATURES,) if rule.keys or rule.identities else ()) + (
            (Need.ATTESTATIONS,) if rule.attestations else ())
    if isinstance(rule, CelRule):
        import re

        words = set(re.findall(r"[A-Za-z_]\w*", rule.expression))
        return tuple(n for w, n in _CEL_NAMES.items() if w in words)
    return _NEEDS[type(rule)]
