"""The rule types. Each class is one ``type:`` of a policy rule: its YAML fields and how they
are read (``read``: every error names the file, line and field), the evidence it needs, and
its ``check``. :data:`RULE_TYPES` registers them; nothing else lists them.

A check returns None (pass) or a :class:`Hit`. Evidence a rule needs that was not gathered
is a hit saying so, never a pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Self

import yaml

from hullcheck import untrusted
from hullcheck.model import Severity
from hullcheck.policy import cel, celcost
from hullcheck.policy import licenses as lic
from hullcheck.policy.evidence import (
    AttestationEvidence,
    Evidence,
    VulnEvidence,
    normalise_fingerprint,
)
from hullcheck.policy.fields import TAG, Context, Fields, PolicyError, kind_of
from hullcheck.policy.model import Hit, Item, Need, Rule, Suppressed
from hullcheck.signers import YAML_KEYS, IdentityPolicy

MAX_KEY = 64 << 10  # a PEM public key is well under a kilobyte
MAX_EXPRESSION = 16 << 10  # characters of one CEL expression
_FINGERPRINT_RE = re.compile(r"^sha(256|384|512):[0-9a-f]{32,128}$")


def _missing(what: str, evidence: Evidence) -> Hit:
    why = "; ".join(n for n in evidence.notes if what in n)
    return Hit(message=f"{what} evidence was not gathered, so this rule cannot pass"
               + (f" ({why})" if why else ""))


def _at_or_above(severity: Severity | None) -> str:
    return f" at or above {severity.value}" if severity is not None else ""


# -- vulnerabilities ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnerabilityRule(Rule):
    """A finding violates when it passes every filter given."""

    TYPE = "vulnerabilities"
    FIELDS = ("severity", "onlyWithFix", "kev", "malicious", "minAgeDays")
    NEEDS = (Need.VULNERABILITIES,)

    severity: Severity | None = None  # at or above this severity
    only_with_fix: bool = False  # only findings that have a fixed version
    kev: bool = False  # only findings in CISA KEV
    malicious: bool = False  # only malicious-package findings
    min_age_days: int | None = None  # only advisories published at least N days ago

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        rule = cls(**common, severity=f.severity("severity"), only_with_fix=f.flag("onlyWithFix"),
                   kev=f.flag("kev"), malicious=f.flag("malicious"),
                   min_age_days=f.number("minAgeDays"))
        if rule.severity is None and not rule.kev and not rule.malicious:
            raise f.ctx.error(f.mapping, f.path, "a vulnerabilities rule needs severity, "
                              "kev: true or malicious: true")
        return rule

    def matches(self, v: VulnEvidence, today: date) -> bool:
        if self.severity is not None and v.severity < self.severity:
            return False
        if self.only_with_fix and not v.has_fix:
            return False
        if self.kev and not v.kev:
            return False
        if self.malicious and not v.malicious:
            return False
        if self.min_age_days is not None:
            age = v.age_days(today)
            if age is not None and age < self.min_age_days:  # unknown age counts: fail closed
                return False
        return True

    def criteria(self) -> str:
        parts = []
        if self.malicious:
            parts.append("malicious package")
        if self.kev:
            parts.append("in CISA KEV")
        if self.severity is not None:
            parts.append(f"at or above {self.severity.value}")
        if self.only_with_fix:
            parts.append("with a fix available")
        if self.min_age_days is not None:
            parts.append(f"published {self.min_age_days}+ days ago")
        return ", ".join(parts)

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        if evidence.vulnerabilities is None:
            return _missing("vulnerabilities", evidence)
        items: list[Item] = []
        suppressed: list[Suppressed] = []
        for v in evidence.vulnerabilities:
            if not self.matches(v, today):
                continue
            if v.suppressed_by:
                suppressed.append(Suppressed(item=_vuln_item(v), by=v.suppressed_by,
                                             reason=v.suppression_reason))
            else:
                items.append(_vuln_item(v))
        if not items and not suppressed:
            return None
        return Hit(message="{n} finding(s) " + self.criteria(), items=tuple(items),
                   itemised=True, suppressed=tuple(suppressed))


def _vuln_item(v: VulnEvidence) -> Item:
    bits = [f"{v.package} {v.version}", v.severity.value]
    if v.kev:
        bits.append("KEV")
    if v.fixed_versions:
        bits.append(f"fixed in {', '.join(v.fixed_versions)}")
    return Item(kind="vulnerability", id=v.id, detail=", ".join(bits), ids=v.ids,
                package=v.package, purl=v.purl)


# -- secrets and configuration -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRule(Rule):
    TYPE = "secrets"
    FIELDS = ("severity", "includeHidden")
    NEEDS = (Need.SECRETS,)

    severity: Severity | None = None  # at or above; None = any secret
    include_hidden: bool = True  # secrets deleted by a later layer still ship

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        return cls(**common, severity=f.severity("severity"),
                   include_hidden=f.flag("includeHidden", default=True))

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        if evidence.secrets is None:
            return _missing("secrets", evidence)
        items = tuple(
            Item(kind="secret", id=s.rule,
                 detail=f"{s.path}" + (f", layer {s.layer}" if s.layer is not None else "")
                 + ("" if s.visible else ", deleted by a later layer but still shipped"))
            for s in evidence.secrets
            if (self.include_hidden or s.visible)
            and (self.severity is None or s.severity >= self.severity)
        )
        if not items:
            return None
        return Hit(message="{n} secret(s)" + _at_or_above(self.severity) + " in the image",
                   items=items, itemised=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRule(Rule):
    TYPE = "config"
    FIELDS = ("ids", "severity")
    NEEDS = (Need.CONFIG,)

    ids: tuple[str, ...] = ()  # these check ids violate...
    severity: Severity | None = None  # ...and so does any check at or above this severity

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        rule = cls(**common, ids=f.strings("ids"), severity=f.severity("severity"))
        if not rule.ids and rule.severity is None:
            raise f.ctx.error(f.mapping, f.path, "a config rule needs ids or severity")
        return rule

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        if evidence.config is None:
            return _missing("config", evidence)
        items = tuple(
            Item(kind="config", id=c.id,
                 detail=", ".join(x for x in (c.title, c.severity.value) if x))
            for c in evidence.config
            if c.id in self.ids or (self.severity is not None and c.severity >= self.severity)
        )
        if not items:
            return None
        return Hit(message="{n} configuration check(s) failed", items=items, itemised=True)


# -- packages: licences and the SBOM -----------------------------------------------------


class LicenseMode(StrEnum):
    DENY = "deny"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseRule(Rule):
    TYPE = "licenses"
    FIELDS = ("deny", "allow", "requireKnown")
    NEEDS = (Need.PACKAGES,)

    mode: LicenseMode
    licenses: tuple[str, ...]  # SPDX ids, normalised
    require_known: bool = False  # a package without any licence violates

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        has_deny, has_allow = f.has("deny"), f.has("allow")
        if has_deny == has_allow:
            raise f.ctx.error(f.mapping, f.path,
                              "a licenses rule needs exactly one of deny or allow")
        mode = LicenseMode.DENY if has_deny else LicenseMode.ALLOW
        ids = []
        for node, path in f.seq(mode.value):
            if not isinstance(node, yaml.ScalarNode):
                raise f.ctx.error(node, path, f"must be an SPDX licence id, not {kind_of(node)}")
            try:
                ids.append(lic.normalise_id(node.value))
            except ValueError as exc:
                raise f.ctx.error(node, path, str(exc)) from None
        if not ids:
            raise f.ctx.error(f.mapping, f"{f.path}.{mode.value}",
                              "must list at least one licence")
        return cls(**common, mode=mode, licenses=tuple(ids), require_known=f.flag("requireKnown"))

    def accepts(self) -> Callable[[tuple[str, ...]], bool]:
        """Whether a licence (its keys, see ``licenses.satisfiable``) is acceptable."""
        listed = {x.lower() for x in self.licenses}
        if self.mode is LicenseMode.DENY:
            return lambda keys: not any(k.lower() in listed for k in keys)
        return lambda keys: any(k.lower() in listed for k in keys)

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        if evidence.packages is None:
            return _missing("packages", evidence)
        ok = self.accepts()
        verb = ("uses a denied licence" if self.mode is LicenseMode.DENY
                else "needs a licence outside the allow list")
        items = []
        for p in evidence.packages:
            detail = None
            if not p.licenses:
                detail = f"{p.version}: no licence known" if self.require_known else None
            for text in p.licenses:
                try:
                    expr = lic.parse(text)
                except ValueError as exc:
                    detail = f"{p.version}: {exc}"
                    break
                if not lic.satisfiable(expr, ok):
                    detail = f"{p.version}: {text} {verb}"
                    break
            if detail is not None:
                items.append(Item(kind="licence", id=p.name, detail=detail, package=p.name,
                                  purl=p.purl))
        if not items:
            return None
        return Hit(message="{n} package(s) with licences the policy does not accept",
                   items=tuple(items), itemised=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class BannedPackage:
    name: str = ""  # glob over the package name
    purl: str = ""  # glob over the purl
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomRule(Rule):
    TYPE = "sbom"
    FIELDS = ("required", "banned")
    NEEDS = (Need.PACKAGES,)

    required: bool = False  # the inventory must list at least one package
    banned: tuple[BannedPackage, ...] = ()

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        banned = []
        for node, path in f.seq("banned"):
            if isinstance(node, yaml.ScalarNode):
                if node.tag == TAG + "null" or not node.value.strip():
                    raise f.ctx.error(node, path, "must be a package name glob or {name, purl}, "
                                      "not empty")
                banned.append(BannedPackage(name=node.value))
                continue
            b = Fields(f.ctx, node, path)
            item = BannedPackage(name=b.text("name"), purl=b.text("purl"), reason=b.text("reason"))
            b.finish()
            if not item.name and not item.purl:
                raise f.ctx.error(node, path, "a banned package needs name or purl")
            banned.append(item)
        rule = cls(**common, required=f.flag("required"), banned=tuple(banned))
        if not rule.required and not rule.banned:
            raise f.ctx.error(f.mapping, f.path, "an sbom rule needs required: true or banned")
        return rule

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        if evidence.packages is None:
            return _missing("packages", evidence)
        if self.required and not evidence.packages:
            return Hit(message="the SBOM is empty: no package was found in the image")
        items = []
        for p in evidence.packages:
            for b in self.banned:
                if (b.name and fnmatchcase(p.name, b.name)) or (b.purl and fnmatchcase(p.purl, b.purl)):
                    items.append(Item(kind="package", id=p.name,
                                      detail=f"{p.version}, banned" + (f": {b.reason}" if b.reason else ""),
                                      package=p.name, purl=p.purl))
                    break
        if not items:
            return None
        return Hit(message="{n} banned package(s)", items=tuple(items), itemised=True)


# -- signatures and attestations ---------------------------------------------------------


class Require(StrEnum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureRule(Rule):
    """Signers (public keys, keyless identities) the image must be signed by, and attestation
    types that must be present, verified, and by one of those signers when the rule names any."""

    TYPE = "signatures"
    FIELDS = ("keys", "require", "attestations", "identities", "trustedRoot")

    keys: tuple[str, ...] = ()  # normalised fingerprints (from the file or from PEM paths)
    key_names: tuple[str, ...] = ()  # how each key was written, for messages
    key_files: tuple[str, ...] = ()  # PEM public keys (absolute paths) to verify signatures with
    require: Require = Require.ANY
    attestations: tuple[str, ...] = ()  # predicate types that must be present and verified
    identities: tuple[IdentityPolicy, ...] = ()  # keyless signers (Fulcio/Rekor), like keys
    trusted_root: str = ""  # Sigstore trusted_root.json (absolute path); "": production root

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        keys = [_key_fingerprint(f.ctx, node, path) for node, path in f.seq("keys")]
        rule = cls(**common, keys=tuple(k for k, _, _ in keys),
                   key_names=tuple(n for _, n, _ in keys),
                   key_files=tuple(pem for _, _, pem in keys if pem),
                   require=f.choice("require", Require, Require.ANY),
                   attestations=f.strings("attestations"),
                   identities=tuple(_identity(f.ctx, node, path)
                                    for node, path in f.seq("identities")),
                   trusted_root=_trusted_root(f))
        if not rule.keys and not rule.identities and not rule.attestations:
            raise f.ctx.error(f.mapping, f.path,
                              "a signatures rule needs keys, identities or attestations")
        return rule

    def needs(self) -> tuple[Need, ...]:
        return ((Need.SIGNATURES,) if self.keys or self.identities else ()) + (
            (Need.ATTESTATIONS,) if self.attestations else ())

    def verification_keys(self) -> tuple[str, ...]:
        return self.key_files

    def attestation_types(self) -> tuple[str, ...]:
        return self.attestations

    def signing_identities(self) -> tuple[IdentityPolicy, ...]:
        return self.identities

    def sigstore_root(self) -> str:
        return self.trusted_root

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        problems = []
        if self.keys or self.identities:
            if evidence.signatures is None:
                return _missing("signatures", evidence)
            problem = self._signed(evidence)
            if problem:
                problems.append(problem)
        if self.attestations:
            if evidence.attestations is None:
                return _missing("attestations", evidence)
            absent = [t for t in self.attestations if not any(
                a.predicate_type == t and a.verified and self._by_signer(a)
                for a in evidence.attestations)]
            if absent:
                problems.append("no verified attestation of type " + ", ".join(absent))
        return Hit(message="; ".join(problems)) if problems else None

    def _signed(self, evidence: Evidence) -> str:
        """What is wrong with the signatures ("" when the rule's signers signed)."""
        verified = [s for s in evidence.signatures or () if s.verified]
        fingerprints = {s.key_fingerprint for s in verified}
        # Each signer the rule names (a key, a keyless identity) and whether it signed.
        signers = [(name, k in fingerprints)
                   for k, name in zip(self.keys, self.key_names, strict=True)]
        signers += [(p.describe(), any(s.identity and p.matches(s.identity, s.issuer)
                                       for s in verified)) for p in self.identities]
        missing = [name for name, present in signers if not present]
        if self.require is Require.ANY and len(missing) == len(signers):
            kind = "key" if not self.identities else "identity" if not self.keys else "signer"
            return f"not signed by any required {kind} (" + ", ".join(missing) + ")"
        if self.require is Require.ALL and missing:
            return "no verified signature by " + ", ".join(missing)
        return ""

    def _by_signer(self, a: AttestationEvidence) -> bool:
        """Whether an attestation is by a signer the rule names (any, when it names none)."""
        if a.identity:  # keyless
            return (not self.keys and not self.identities) or any(
                p.matches(a.identity, a.issuer) for p in self.identities)
        return not self.keys or not a.key_fingerprint or a.key_fingerprint in self.keys


def _identity(ctx: Context, node: yaml.Node, path: str) -> IdentityPolicy:
    """A keyless signer: identity/identityRegexp, issuer/issuerRegexp, GitHub claims."""
    k = Fields(ctx, node, path)
    values = {key: k.text(key) for key in YAML_KEYS}
    k.finish()
    try:
        return IdentityPolicy.from_yaml(values, error=PolicyError, where=path)
    except PolicyError as exc:
        raise ctx.error(node, "", str(exc)) from None


def _trusted_root(f: Fields) -> str:
    """The ``trustedRoot`` file (relative to the policy file), as an absolute path."""
    written = f.text("trustedRoot")
    if not written:
        return ""
    file = Path(written)
    if not file.is_absolute() and f.ctx.base_dir is not None:
        file = f.ctx.base_dir / file
    return str(file.resolve())


def _key_fingerprint(ctx: Context, node: yaml.Node, path: str) -> tuple[str, str, str]:
    """(fingerprint, as written, PEM file or "") for a key entry: a fingerprint string, or
    {fingerprint} or {path} of a PEM public key (relative to the policy file)."""
    if isinstance(node, yaml.ScalarNode):
        fp, written = normalise_fingerprint(node.value), node.value
    else:
        k = Fields(ctx, node, path)
        fp_text, pem = k.text("fingerprint"), k.text("path")
        k.finish()
        if bool(fp_text) == bool(pem):
            raise ctx.error(node, path, "a key needs exactly one of fingerprint or path")
        if pem:
            fp, file = public_key_fingerprint(ctx, node, f"{path}.path", pem)
            return fp, pem, file
        fp, written = normalise_fingerprint(fp_text), fp_text
    if not _FINGERPRINT_RE.match(fp):
        raise ctx.error(node, path, f"{written!r} is not a key fingerprint (sha256:<hex>)")
    return fp, written, ""


def public_key_fingerprint(ctx: Context, node: yaml.Node, path: str, pem_path: str) -> tuple[str, str]:
    """(fingerprint, absolute path) of a PEM public key file."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    file = Path(pem_path)
    if not file.is_absolute() and ctx.base_dir is not None:
        file = ctx.base_dir / file
    try:
        data = untrusted.read_file(file, what="public key", limit=MAX_KEY, error=PolicyError)
    except PolicyError as exc:
        raise ctx.error(node, path, f"cannot read {exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ctx.error(node, path, f"{file} is not a PEM public key") from None
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest(), str(file.resolve())


# -- the base image ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseRule(Rule):
    TYPE = "base"
    FIELDS = ("trusted", "notEol", "maxDaysBehind")
    NEEDS = (Need.BASE,)

    trusted: bool = False  # the base must be known and trusted
    not_eol: bool = False  # the base release must not be end of life
    max_days_behind: int | None = None

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        rule = cls(**common, trusted=f.flag("trusted"), not_eol=f.flag("notEol"),
                   max_days_behind=f.number("maxDaysBehind"))
        if not rule.trusted and not rule.not_eol and rule.max_days_behind is None:
            raise f.ctx.error(f.mapping, f.path,
                              "a base rule needs trusted: true, notEol: true or maxDaysBehind")
        return rule

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        b = evidence.base
        if b is None:
            return _missing("base", evidence)
        name = f"base image {b.name}" if b.name else "the base image"
        problems = []
        if self.trusted and b.trusted is not True:
            problems.append(f"{name} is " + ("not trusted" if b.trusted is False else
                                              "unknown, so not trusted"))
        if self.not_eol and b.eol is not False:
            problems.append(f"{name} is " + ("end of life" if b.eol else
                                              "of unknown end-of-life status"))
        if self.max_days_behind is not None:
            if b.days_behind is None:
                problems.append(f"how far {name} is behind its latest build is unknown")
            elif b.days_behind > self.max_days_behind:
                problems.append(f"{name} is {b.days_behind} days behind its latest build "
                                f"(at most {self.max_days_behind} allowed)")
        return Hit(message="; ".join(problems)) if problems else None


# -- CEL ---------------------------------------------------------------------------------

_NEED_WORDS = {n.value: n for n in Need}


@dataclass(frozen=True, slots=True, kw_only=True)
class CelRule(Rule):
    """Passes when ``expression`` evaluates to true over the evidence; false is a
    violation with ``message``; an evaluation error is a violation with the error."""

    TYPE = "cel"
    FIELDS = ("expression", "message")

    expression: str
    message: str = ""
    program: Any = None  # the compiled celpy program (compiled at load time)

    @classmethod
    def read(cls, f: Fields, common: dict[str, Any]) -> Self:
        node = f.node("expression", required=True)
        expression = f.text("expression", required=True)
        field = f"{f.path}.expression"
        if len(expression) > MAX_EXPRESSION:
            raise f.ctx.error(node, field, f"longer than {MAX_EXPRESSION:,} characters")
        try:
            program = cel.compile_expression(expression)
        except cel.CelSyntaxError as exc:
            raise f.ctx.error(node, field, f"CEL syntax error: {exc}") from None
        if celcost.depth(program.ast) > celcost.MAX_DEPTH:
            raise f.ctx.error(node, field, "nested too deeply (more than "
                              f"{celcost.MAX_DEPTH} levels of syntax); split it into rules")
        cost = celcost.estimate(program.ast)
        if cost.steps > cel.STEP_BUDGET:
            raise f.ctx.error(node, field, _unbounded(cost))
        return cls(**common, expression=expression, message=f.text("message"), program=program)

    def needs(self) -> tuple[Need, ...]:
        """The evidence lists the expression names (a word of it that is a ``Need``)."""
        words = set(re.findall(r"[A-Za-z_]\w*", self.expression))
        return tuple(n for w, n in _NEED_WORDS.items() if w in words)

    def check(self, evidence: Evidence, today: date) -> Hit | None:
        # cel-python is lenient with null (size(null) == 0): evidence the expression names but
        # that was not gathered is reported before evaluating, never read as "none found".
        needs = self.needs()
        for need in needs:
            if getattr(evidence, need.value) is None:
                return _missing(need.value, evidence)
        result = cel.run(self.program, cel.activation(evidence, today, [n.value for n in needs]))
        if result.value is True:
            return None
        if result.value is False:
            return Hit(message=self.message or f"expression is false: {self.expression}")
        if result.over_budget:  # the rule failed, not the evaluation: the others still run
            return Hit(message=f"rule {self.id} {result.error}; simplify the expression")
        return Hit(message=result.error)


def _unbounded(cost: celcost.Estimate) -> str:
    steps = f"{cost.steps:,}" if cost.steps < 10**15 else "more than 10^15"
    nesting = (f" ({' inside '.join(reversed(cost.nesting))} over evidence lists)"
               if len(cost.nesting) > 1 else "")
    return (f"evaluation cost cannot be bounded: {steps} steps for an image with "
            f"{celcost.EVIDENCE_ITEMS:,} packages or findings, over the budget of "
            f"{cel.STEP_BUDGET:,}{nesting}; avoid nesting comprehensions over the evidence")


RULE_TYPES: tuple[type[Rule], ...] = (
    VulnerabilityRule, SecretRule, ConfigRule, LicenseRule, SbomRule, SignatureRule, BaseRule,
    CelRule,
)
