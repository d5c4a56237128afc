"""Evidence + Policy → Decision. Pure: no I/O, no clock (``now`` is an argument).

"Deny" is a value: a failed rule is a :class:`Violation` in the decision, never an
exception. Evidence that was not gathered, a CEL error, a licence that cannot be read:
each is a violation of the rule that needed it, so nothing unknown passes silently.

Waivers mark, they do not delete: every waived item is listed in ``Decision.waived``
with the waiver's reason; a waiver past its expiry date waives nothing and is listed
in ``Decision.expired_waivers`` with what it would have waived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from fnmatch import fnmatchcase

from hullcheck.policy import cel
from hullcheck.policy import licenses as lic
from hullcheck.policy.evidence import AttestationEvidence, Evidence, ImageEvidence, VulnEvidence
from hullcheck.policy.model import (
    Action,
    BaseRule,
    CelRule,
    ConfigRule,
    LicenseMode,
    LicenseRule,
    Policy,
    Require,
    Rule,
    SbomRule,
    SecretRule,
    SignatureRule,
    VulnerabilityRule,
    Waiver,
    rule_needs,
)


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    WARN = "warn"
    FAIL = "fail"


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
class Violation:
    rule: str
    action: Action
    message: str
    description: str = ""
    items: tuple[Item, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Waived:
    """An item (or a whole rule, ``item`` None) that a waiver or a VEX statement covered."""

    rule: str
    item: Item | None
    by: str  # "waiver <file>:<line>" or the VEX/ignore source
    reason: str
    expires: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiredWaiver:
    waiver: Waiver
    would_waive: tuple[str, ...]  # "rule-id: item" that are violations again because of it


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    image: ImageEvidence
    policy: str
    outcome: Outcome
    violations: tuple[Violation, ...]
    waived: tuple[Waived, ...] = ()
    expired_waivers: tuple[ExpiredWaiver, ...] = ()
    evaluated_on: date | None = None
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.action is Action.FAIL)

    def summary(self) -> str:
        """One line: the outcome and the failing (else warning) rules."""
        if not self.violations:
            return f"{self.image.ref}: pass"
        shown = self.failed or self.violations
        rules = "; ".join(f"{v.rule}: {v.message}" for v in shown)
        return f"{self.image.ref}: {self.outcome.value}: {rules}"


# -- rule checks: each returns None (pass) or (message, items, itemised) -------------------


@dataclass(frozen=True, slots=True)
class _Hit:
    message: str
    items: tuple[Item, ...] = ()
    itemised: bool = False  # waivers act per item; "{n}" in message is the count kept


_SHOWN = 5


def _listing(items: Sequence[Item]) -> str:
    head = ", ".join(str(i) for i in items[:_SHOWN])
    more = len(items) - _SHOWN
    return head + (f" and {more} more" if more > 0 else "")


def _missing(what: str, evidence: Evidence) -> _Hit:
    why = "; ".join(n for n in evidence.notes if what in n)
    return _Hit(f"{what} evidence was not gathered, so this rule cannot pass"
                + (f" ({why})" if why else ""))


def _vuln_item(v: VulnEvidence) -> Item:
    bits = [f"{v.package} {v.version}", v.severity.value]
    if v.kev:
        bits.append("KEV")
    if v.fixed_versions:
        bits.append(f"fixed in {', '.join(v.fixed_versions)}")
    return Item(kind="vulnerability", id=v.id, detail=", ".join(bits), ids=v.ids,
                package=v.package, purl=v.purl)


def _vuln_matches(rule: VulnerabilityRule, v: VulnEvidence, today: date) -> bool:
    if rule.severity is not None and v.severity.rank < rule.severity.rank:
        return False
    if rule.only_with_fix and not v.has_fix:
        return False
    if rule.kev and not v.kev:
        return False
    if rule.malicious and not v.malicious:
        return False
    if rule.min_age_days is not None:
        age = v.age_days(today)
        if age is not None and age < rule.min_age_days:  # unknown age counts: fail closed
            return False
    return True


def _vuln_criteria(rule: VulnerabilityRule) -> str:
    parts = []
    if rule.malicious:
        parts.append("malicious package")
    if rule.kev:
        parts.append("in CISA KEV")
    if rule.severity is not None:
        parts.append(f"at or above {rule.severity.value}")
    if rule.only_with_fix:
        parts.append("with a fix available")
    if rule.min_age_days is not None:
        parts.append(f"published {rule.min_age_days}+ days ago")
    return ", ".join(parts)


def _check_vulns(rule: VulnerabilityRule, ev: Evidence, today: date,
                 suppressed: list[tuple[str, Item, str, str]]) -> _Hit | None:
    if ev.vulnerabilities is None:
        return _missing("vulnerabilities", ev)
    items = []
    for v in ev.vulnerabilities:
        if not _vuln_matches(rule, v, today):
            continue
        if v.suppressed_by:
            suppressed.append((rule.id, _vuln_item(v), v.suppressed_by, v.suppression_reason))
            continue
        items.append(_vuln_item(v))
    if not items:
        return None
    return _Hit("{n} finding(s) " + _vuln_criteria(rule), tuple(items), True)


def _check_secrets(rule: SecretRule, ev: Evidence) -> _Hit | None:
    if ev.secrets is None:
        return _missing("secrets", ev)
    items = tuple(
        Item(kind="secret", id=s.rule,
             detail=f"{s.path}" + (f", layer {s.layer}" if s.layer is not None else "")
             + ("" if s.visible else ", deleted by a later layer but still shipped"))
        for s in ev.secrets
        if (rule.include_hidden or s.visible)
        and (rule.severity is None or s.severity.rank >= rule.severity.rank)
    )
    if not items:
        return None
    level = f" at or above {rule.severity.value}" if rule.severity else ""
    return _Hit("{n} secret(s)" + level + " in the image", items, True)


def _check_config(rule: ConfigRule, ev: Evidence) -> _Hit | None:
    if ev.config is None:
        return _missing("config", ev)
    items = tuple(
        Item(kind="config", id=c.id, detail=", ".join(x for x in (c.title, c.severity.value) if x))
        for c in ev.config
        if c.id in rule.ids or (rule.severity is not None and c.severity.rank >= rule.severity.rank)
    )
    if not items:
        return None
    return _Hit("{n} configuration check(s) failed", items, True)


def _check_licenses(rule: LicenseRule, ev: Evidence) -> _Hit | None:
    if ev.packages is None:
        return _missing("packages", ev)
    listed = {x.lower() for x in rule.licenses}
    if rule.mode is LicenseMode.DENY:
        def ok(keys: tuple[str, ...]) -> bool:
            return not any(k.lower() in listed for k in keys)
    else:
        def ok(keys: tuple[str, ...]) -> bool:
            return any(k.lower() in listed for k in keys)
    items = []
    for p in ev.packages:
        base = Item(kind="licence", id=p.name, package=p.name, purl=p.purl)
        if not p.licenses:
            if rule.require_known:
                items.append(Item(kind="licence", id=p.name, detail=f"{p.version}: no licence "
                                  "known", package=p.name, purl=p.purl))
            continue
        for text in p.licenses:
            try:
                expr = lic.parse(text)
            except ValueError as exc:
                items.append(Item(kind=base.kind, id=p.name, detail=f"{p.version}: {exc}",
                                  package=p.name, purl=p.purl))
                break
            if not lic.satisfiable(expr, ok):
                verb = "uses a denied licence" if rule.mode is LicenseMode.DENY else \
                    "needs a licence outside the allow list"
                items.append(Item(kind=base.kind, id=p.name, detail=f"{p.version}: {text} {verb}",
                                  package=p.name, purl=p.purl))
                break
    if not items:
        return None
    return _Hit("{n} package(s) with licences the policy does not accept",
                tuple(items), True)


def _check_sbom(rule: SbomRule, ev: Evidence) -> _Hit | None:
    if ev.packages is None:
        return _missing("packages", ev)
    if rule.required and not ev.packages:
        return _Hit("the SBOM is empty: no package was found in the image")
    items = []
    for p in ev.packages:
        for b in rule.banned:
            if (b.name and fnmatchcase(p.name, b.name)) or (b.purl and fnmatchcase(p.purl, b.purl)):
                items.append(Item(kind="package", id=p.name,
                                  detail=f"{p.version}, banned" + (f": {b.reason}" if b.reason else ""),
                                  package=p.name, purl=p.purl))
                break
    if not items:
        return None
    return _Hit("{n} banned package(s)", tuple(items), True)


def _check_signatures(rule: SignatureRule, ev: Evidence) -> _Hit | None:
    problems = []
    if rule.keys or rule.identities:
        if ev.signatures is None:
            return _missing("signatures", ev)
        verified = [s for s in ev.signatures if s.verified]
        fingerprints = {s.key_fingerprint for s in verified}
        # Each signer the rule names (a key, a keyless identity) and whether one signed.
        signers = [(name, k in fingerprints)
                   for k, name in zip(rule.keys, rule.key_names, strict=True)]
        signers += [(p.describe(), any(s.identity and p.matches(s.identity, s.issuer)
                                       for s in verified)) for p in rule.identities]
        missing = [name for name, present in signers if not present]
        if rule.require is Require.ANY and len(missing) == len(signers):
            kind = "key" if not rule.identities else "identity" if not rule.keys else "signer"
            problems.append(f"not signed by any required {kind} (" + ", ".join(missing) + ")")
        elif rule.require is Require.ALL and missing:
            problems.append("no verified signature by " + ", ".join(missing))
    if rule.attestations:
        if ev.attestations is None:
            return _missing("attestations", ev)
        absent = [t for t in rule.attestations if not any(
            a.predicate_type == t and a.verified and _by_rule_signer(rule, a)
            for a in ev.attestations)]
        if absent:
            problems.append("no verified attestation of type " + ", ".join(absent))
    return _Hit("; ".join(problems)) if problems else None


def _by_rule_signer(rule: SignatureRule, a: AttestationEvidence) -> bool:
    """Whether an attestation is by a signer the rule names (any, when it names none)."""
    if a.identity:  # keyless
        return (not rule.keys and not rule.identities) or any(
            p.matches(a.identity, a.issuer) for p in rule.identities)
    return not rule.keys or not a.key_fingerprint or a.key_fingerprint in rule.keys


def _check_base(rule: BaseRule, ev: Evidence) -> _Hit | None:
    b = ev.base
    if b is None:
        return _missing("base", ev)
    name = f"base image {b.name}" if b.name else "the base image"
    problems = []
    if rule.trusted and b.trusted is not True:
        problems.append(f"{name} is " + ("not trusted" if b.trusted is False else
                                          "unknown, so not trusted"))
    if rule.not_eol and b.eol is not False:
        problems.append(f"{name} is " + ("end of life" if b.eol else
                                          "of unknown end-of-life status"))
    if rule.max_days_behind is not None:
        if b.days_behind is None:
            problems.append(f"how far {name} is behind its latest build is unknown")
        elif b.days_behind > rule.max_days_behind:
            problems.append(f"{name} is {b.days_behind} days behind its latest build "
                            f"(at most {rule.max_days_behind} allowed)")
    return _Hit("; ".join(problems)) if problems else None


def _check_cel(rule: CelRule, ev: Evidence, today: date,
               variables: dict[str, object] | None) -> _Hit | None:
    # cel-python is lenient with null (size(null) == 0): evidence the expression names but
    # that was not gathered is reported before evaluating, never read as "none found".
    for need in rule_needs(rule):
        if getattr(ev, need.value) is None:
            return _missing(need.value, ev)
    result = cel.run(rule.program, variables if variables is not None else cel.activation(ev, today))
    if result.value is True:
        return None
    if result.value is False:
        return _Hit(rule.message or f"expression is false: {rule.expression}")
    if result.over_budget:  # the rule failed, not the evaluation: the others still run
        return _Hit(f"rule {rule.id} {result.error}; simplify the expression")
    return _Hit(result.error)


# -- waivers ------------------------------------------------------------------------------


def _image_in_scope(w: Waiver, image: ImageEvidence) -> bool:
    if not w.images:
        return True
    names = {image.ref, image.pinned, image.digest}
    return any(fnmatchcase(n, g) for g in w.images for n in names if n)


def _covers(w: Waiver, rule: str, item: Item | None) -> bool:
    if w.rule and w.rule != rule:
        return False
    if item is None:  # a whole-rule violation: only a plain rule waiver covers it
        return not w.vulnerability and not w.package
    if w.vulnerability and w.vulnerability not in item.ids:
        return False
    return not w.package or (bool(item.package) and (
        fnmatchcase(item.package, w.package) or fnmatchcase(item.purl, w.package)))


def _by(w: Waiver) -> str:
    return f"waiver {w.where}" if str(w.where) else "waiver"


# -- evaluate -----------------------------------------------------------------------------


def evaluate(evidence: Evidence, policy: Policy, *, now: date | datetime) -> Decision:
    today = now.date() if isinstance(now, datetime) else now
    suppressed: list[tuple[str, Item, str, str]] = []
    variables = cel.activation(evidence, today) if any(
        isinstance(r, CelRule) for r in policy.rules) else None
    checks: dict[type, Callable[[Rule], _Hit | None]] = {
        VulnerabilityRule: lambda r: _check_vulns(r, evidence, today, suppressed),  # type: ignore[arg-type]
        SecretRule: lambda r: _check_secrets(r, evidence),  # type: ignore[arg-type]
        ConfigRule: lambda r: _check_config(r, evidence),  # type: ignore[arg-type]
        LicenseRule: lambda r: _check_licenses(r, evidence),  # type: ignore[arg-type]
        SbomRule: lambda r: _check_sbom(r, evidence),  # type: ignore[arg-type]
        SignatureRule: lambda r: _check_signatures(r, evidence),  # type: ignore[arg-type]
        BaseRule: lambda r: _check_base(r, evidence),  # type: ignore[arg-type]
        CelRule: lambda r: _check_cel(r, evidence, today, variables),  # type: ignore[arg-type]
    }
    active = [w for w in policy.waivers if w.expires >= today and _image_in_scope(w, evidence.image)]
    expired = [w for w in policy.waivers if w.expires < today and _image_in_scope(w, evidence.image)]
    would: dict[int, list[str]] = {id(w): [] for w in expired}
    violations: list[Violation] = []
    waived: list[Waived] = []

    def waiver_for(rule: str, item: Item | None) -> Waiver | None:
        for w in expired:
            if _covers(w, rule, item):
                would[id(w)].append(f"{rule}: {item}" if item else rule)
        return next((w for w in active if _covers(w, rule, item)), None)

    for rule in policy.rules:
        hit = checks[type(rule)](rule)
        if hit is None:
            continue
        if hit.itemised:
            kept = []
            for item in hit.items:
                w = waiver_for(rule.id, item)
                if w is None:
                    kept.append(item)
                else:
                    waived.append(Waived(rule=rule.id, item=item, by=_by(w), reason=w.reason,
                                         expires=w.expires))
            if not kept:
                continue
            message = hit.message.replace("{n}", str(len(kept)))
            if len(kept) < len(hit.items):
                message += f" ({len(hit.items) - len(kept)} more waived)"
            violations.append(Violation(rule=rule.id, action=rule.action,
                                        message=f"{message}: {_listing(kept)}",
                                        description=rule.description, items=tuple(kept)))
        else:
            w = waiver_for(rule.id, None)
            if w is not None:
                waived.append(Waived(rule=rule.id, item=None, by=_by(w), reason=w.reason,
                                     expires=w.expires))
                continue
            violations.append(Violation(rule=rule.id, action=rule.action, message=hit.message,
                                        description=rule.description, items=hit.items))
    for rule_id, item, by, reason in suppressed:
        waived.append(Waived(rule=rule_id, item=item, by=by, reason=reason))
    if any(v.action is Action.FAIL for v in violations):
        outcome = Outcome.FAIL
    elif violations:
        outcome = Outcome.WARN
    else:
        outcome = Outcome.PASS
    return Decision(
        image=evidence.image, policy=policy.name, outcome=outcome, violations=tuple(violations),
        waived=tuple(waived),
        expired_waivers=tuple(ExpiredWaiver(waiver=w, would_waive=tuple(would[id(w)]))
                              for w in expired),
        evaluated_on=today, notes=evidence.notes,
    )
