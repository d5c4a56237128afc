"""Triage: acknowledge, assign or VEX a finding for one image or a whole repository; each
decision is audit-logged by the store in the same transaction. VEX decisions mark findings
(as VEX statements, through the same marking as a scan: ``convert.mark``), so recording one
queues a re-match of the images it covers; they are exported as an OpenVEX document and,
with a signing key configured, attached to the images as signed attestations."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hullcheck import __version__
from hullcheck.errors import DatabaseError, UsageError
from hullcheck.fleet.model import TriageAction, TriageDecision, TriageScope
from hullcheck.monitor import queue
from hullcheck.monitor.context import Context

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
OPENVEX_PREDICATE = "https://openvex.dev/ns/v0.2.0"
VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present",
                  "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary",
                  "inline_mitigations_already_exist")
MAX_TEXT = 2000
MAX_WAIVER_DAYS = 366  # a waiver ends within a year: risk is accepted for a while, not forever


def check(decision: TriageDecision, *, today: dt.date) -> None:
    """A decision that cannot be recorded as given is a one-line UsageError."""
    for name, value in (("advisory", decision.advisory_id), ("target", decision.target)):
        if not value or len(value) > 300 or not value.isprintable():
            raise UsageError(f"triage: {name} must be 1-300 printable characters")
    for name, value in (("reason", decision.reason), ("assignee", decision.assignee),
                        ("package", decision.package_purl)):
        if len(value) > MAX_TEXT or not value.isprintable():
            raise UsageError(f"triage: {name} must be at most {MAX_TEXT} printable characters")
    if decision.action is TriageAction.ASSIGN and not decision.assignee:
        raise UsageError("triage: assign needs an assignee")
    if decision.action is TriageAction.VEX:
        if decision.vex_status not in VEX_STATUSES:
            raise UsageError(f"triage: VEX status must be one of {', '.join(VEX_STATUSES)}")
        if decision.vex_status == "not_affected" and \
                decision.vex_justification not in JUSTIFICATIONS:
            raise UsageError("triage: not_affected needs a justification, one of "
                             + ", ".join(JUSTIFICATIONS))
    if decision.action is TriageAction.WAIVE:
        _check_waiver(decision, today)
    if decision.action is not TriageAction.WAIVE and decision.expires is not None:
        raise UsageError("triage: only a waiver expires")
    if decision.package_purl and not decision.package_purl.startswith("pkg:"):
        raise UsageError("triage: package must be a purl (pkg:...)")


def _check_waiver(decision: TriageDecision, today: dt.date) -> None:
    day = decision.expires
    if day is None:
        raise UsageError("triage: a waiver needs the day it expires (YYYY-MM-DD)")
    if day < today:
        raise UsageError(f"waiver: the expiry {day.isoformat()} has passed")
    if day > today + dt.timedelta(days=MAX_WAIVER_DAYS):
        raise UsageError(f"waiver: the expiry must be within {MAX_WAIVER_DAYS} days")
    if not decision.reason.strip():
        raise UsageError("waiver: say why the risk is accepted (reason)")


def decide(ctx: Context, decision: TriageDecision, *, actor: str) -> None:
    check(decision, today=ctx.store.clock().date())
    if decision.scope is TriageScope.IMAGE and ctx.store.image(decision.target) is None:
        raise UsageError(f"triage: no image {decision.target} in the service")
    ctx.store.decide(decision, actor=actor)
    if decision.action in (TriageAction.VEX, TriageAction.WAIVE):  # both mark findings
        remark(ctx, decision)


def _digests(ctx: Context, decision: TriageDecision) -> list[str]:
    if decision.scope is TriageScope.IMAGE:
        return [decision.target]
    out: list[str] = []
    after = None
    while True:
        page = ctx.store.images_by_repository(decision.target, limit=500, after=after)
        out.extend(i.digest for i in page.images if i.status == "scanned")
        if page.next is None:
            return out
        after = page.next


def remark(ctx: Context, decision: TriageDecision) -> None:
    """Re-match the images the decision covers, so their findings carry the new mark."""
    try:
        build = ctx.build_id()
    except DatabaseError:
        return  # nothing was matched yet: the first scan applies the decision
    digests = _digests(ctx, decision)
    with ctx.store.write() as conn:
        for start in range(0, len(digests), 200):
            images = [[d, None] for d in digests[start:start + 200]]
            queue.enqueue(ctx, "rematch", {"build": build, "images": images}, conn=conn)


# -- OpenVEX -----------------------------------------------------------------------------------


def openvex(ctx: Context, repository: str) -> dict[str, Any]:
    """One OpenVEX document of every VEX decision about ``repository`` and its images: a
    repository decision names each of its images as a product, an image decision its own."""
    digests = _digests(ctx, TriageDecision(scope=TriageScope.REPOSITORY, target=repository,
                                           advisory_id="-", action=TriageAction.VEX))
    decisions = list(ctx.store.decisions(repository=repository))
    for digest in digests:
        decisions.extend(d for d in ctx.store.decisions(digest=digest)
                         if d.scope == TriageScope.IMAGE)
    statements = []
    for d in dict.fromkeys(decisions):
        if d.action != TriageAction.VEX:
            continue
        targets = digests if d.scope == TriageScope.REPOSITORY else [d.target]
        if not targets:
            continue
        products = []
        for digest in targets:
            product: dict[str, Any] = {"@id": f"{repository}@{digest}"}
            if d.package_purl:
                product["subcomponents"] = [{"@id": d.package_purl}]
            products.append(product)
        st: dict[str, Any] = {"vulnerability": {"name": d.advisory_id}, "products": products,
                              "status": d.vex_status}
        if d.vex_justification:
            st["justification"] = d.vex_justification
        if d.reason:
            st["impact_statement" if d.vex_status == "not_affected" else "status_notes"] = d.reason
        if d.vex_status == "affected":
            st["action_statement"] = d.reason or "see the triage decision in hullcheck"
        statements.append(st)
    body = json.dumps(statements, sort_keys=True).encode()
    now = ctx.clock().isoformat().replace("+00:00", "Z")
    return {"@context": OPENVEX_CONTEXT,
            "@id": f"https://hullcheck.invalid/vex/{hashlib.sha256(body).hexdigest()[:32]}",
            "author": f"hullcheck {__version__} monitor", "timestamp": now, "version": 1,
            "statements": statements}


def attach(ctx: Context, repository: str, *, actor: str) -> list[str]:
    """Sign the repository's OpenVEX document and attach it to each of its scanned images."""
    from hullcheck import pipeline

    signing = ctx.config.signing
    if signing is None:
        raise UsageError("no signing key is configured (signing: in the monitor config)")
    host = repository.split("/", 1)[0]
    if ctx.config.registry(host) is None:
        raise UsageError(f"registry {host} is not in the service's registries")
    doc = openvex(ctx, repository)
    password = os.environ.get(signing.password_env, "") if signing.password_env else ""
    attached = []
    with tempfile.TemporaryDirectory(prefix="hullcheck-vex-") as tmp:
        predicate = Path(tmp) / "openvex.json"
        predicate.write_text(json.dumps(doc))
        for digest in _digests(ctx, TriageDecision(scope=TriageScope.REPOSITORY,
                                                   target=repository, advisory_id="-",
                                                   action=TriageAction.VEX)):
            pipeline.attest_image(pipeline.AttestRequest(
                image=f"registry:{repository}@{digest}", key=signing.key,
                prompt=lambda _what: password, predicate_type=OPENVEX_PREDICATE,
                predicate=predicate, pull=ctx.pull_options(host)))
            attached.append(digest)
    ctx.store.audit(actor=actor, action="vex.attest", target=f"repository:{repository}",
                    details={"images": attached})
    return attached
