"""Evidence + Policy → Decision. Pure: no I/O, no clock (``now`` is an argument).

"Deny" is a value: a failed rule is a :class:`Violation` in the decision, never an
exception. Evidence that was not gathered, a CEL error, a licence that cannot be read:
each is a violation of the rule that needed it, so nothing unknown passes silently.

Waivers mark, they do not delete: every waived item is listed in ``Decision.waived``
with the waiver's reason; a waiver past its expiry date waives nothing and is listed
in ``Decision.expired_waivers`` with what it would have waived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from fnmatch import fnmatchcase

from hullcheck.policy.evidence import Evidence, ImageEvidence
from hullcheck.policy.model import Action, Item, Policy, Waiver


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    WARN = "warn"
    FAIL = "fail"


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


_SHOWN = 5  # items named in a violation's message


def _listing(items: Sequence[Item]) -> str:
    head = ", ".join(str(i) for i in items[:_SHOWN])
    more = len(items) - _SHOWN
    return head + (f" and {more} more" if more > 0 else "")


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

    suppressed: list[Waived] = []  # listed after the waived items, as VEX marked them
    for rule in policy.rules:
        hit = rule.check(evidence, today)
        if hit is None:
            continue
        suppressed.extend(Waived(rule=rule.id, item=s.item, by=s.by, reason=s.reason)
                          for s in hit.suppressed)
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
    waived.extend(suppressed)
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
