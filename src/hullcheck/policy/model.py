"""The policy model: rules over the evidence, and waivers with a reason and an expiry.

    apiVersion: hullcheck/v1
    kind: Policy
    metadata: {name: production}
    rules:   [ {id, type, action: fail|warn, description, ...type fields} ]
    waivers: [ {rule and/or vulnerability, images, package, reason, expires} ]

Every value is validated when the file is loaded (``policy.load``); a ``Policy`` in
hand is well formed. Each rule type is a :class:`Rule` subclass in ``policy.rules``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from hullcheck.policy.evidence import Evidence
    from hullcheck.policy.fields import Fields
    from hullcheck.signers import IdentityPolicy

API_VERSION = "hullcheck/v1"
KIND = "Policy"


class Action(StrEnum):
    FAIL = "fail"
    WARN = "warn"


class Need(StrEnum):
    """Kinds of evidence (each the name of an ``Evidence`` field); a policy says which it
    needs so callers gather only those."""

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
class Item:
    """One piece of evidence behind a violation."""

    kind: str  # vulnerability, secret, config, package, licence
    id: str  # the vulnerability id, secret rule, check id, package name...
    detail: str = ""
    ids: tuple[str, ...] = ()  # every id a vulnerability waiver may name
    package: str = ""
    purl: str = ""

    def __str__(self) -> str:
        return f"{self.id} ({self.detail})" if self.detail else self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppressed:
    """An item a rule matched that VEX or an ignore file had already marked: listed as
    waived, never a violation."""

    item: Item
    by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """What a rule's check found wrong. ``itemised``: waivers act per item, and ``{n}`` in
    the message becomes the count of items no waiver covered."""

    message: str
    items: tuple[Item, ...] = ()
    itemised: bool = False
    suppressed: tuple[Suppressed, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule(ABC):
    """One rule of a policy. A rule type declares its YAML ``type`` word (``TYPE``), its own
    fields (``FIELDS``, besides id, type, action and description), how it reads them, the
    evidence it needs and its check; ``policy.rules.RULE_TYPES`` registers it."""

    TYPE: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]
    NEEDS: ClassVar[tuple[Need, ...]] = ()

    id: str
    action: Action = Action.FAIL
    description: str = ""
    where: Source = Source()

    @classmethod
    @abstractmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        """The rule from its YAML mapping; ``common`` holds id, action, description, where."""

    def needs(self) -> tuple[Need, ...]:
        return self.NEEDS

    @abstractmethod
    def check(self, evidence: Evidence, today: date) -> Hit | None:
        """None when the evidence passes; evidence the rule needs but that was not gathered
        is a hit, never a pass."""

    def verification_keys(self) -> tuple[str, ...]:
        """PEM public key files this rule verifies signatures with."""
        return ()

    def attestation_types(self) -> tuple[str, ...]:
        """Predicate types of the attestations this rule looks for."""
        return ()

    def signing_identities(self) -> tuple[IdentityPolicy, ...]:
        """Keyless signers this rule accepts (signatures are verified for each)."""
        return ()

    def sigstore_root(self) -> str:
        """The Sigstore trusted_root.json this rule names ("": the production root)."""
        return ""


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
        return frozenset(n for r in self.rules for n in r.needs())

    def verification_keys(self) -> tuple[str, ...]:
        """PEM public key files the signature rules name: signatures are verified with these
        (a key given only by fingerprint can be matched, not used to verify)."""
        return tuple(dict.fromkeys(k for r in self.rules for k in r.verification_keys()))

    def attestation_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for r in self.rules for t in r.attestation_types()))

    def signing_identities(self) -> tuple[IdentityPolicy, ...]:
        """The keyless signers the rules accept, each verified on its own."""
        return tuple(dict.fromkeys(i for r in self.rules for i in r.signing_identities()))

    def trusted_root(self) -> str:
        """The Sigstore trusted root the rules name (the first; "" for the production root)."""
        return next((root for r in self.rules if (root := r.sigstore_root())), "")

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)
