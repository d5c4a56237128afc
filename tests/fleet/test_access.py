"""Tokens (hashed, verified, revoked), the audit log, triage decisions and deployments
replaced per cluster, on both backends."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from hullcheck import fleet
from hullcheck.errors import UsageError
from hullcheck.fleet import schema
from hullcheck.fleet.model import Scope, TriageAction, TriageDecision, TriageScope
from tests.fleet.conftest import DIGEST_A, DIGEST_B, DIGEST_C, Clock


def test_tokens_are_stored_hashed_and_verified(store: fleet.Store, clock: Clock):
    info, token = store.create_token("ci", Scope.WRITE, actor="cli")
    assert (info.name, info.scope, info.revoked_at) == ("ci", Scope.WRITE, None)
    assert token.startswith("hc_") and len(token) == 3 + 43  # 256 bits, base64url
    with store.read() as conn:
        stored = conn.execute(sa.select(schema.tokens.c.token_sha256)).scalar_one()
        dumped = " ".join(str(v) for row in conn.execute(sa.select(schema.tokens)) for v in row)
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in dumped
    verified = store.verify_token(token)
    assert verified is not None and (verified.name, verified.scope) == ("ci", Scope.WRITE)
    assert verified.scope.allows(Scope.READ) and not verified.scope.allows(Scope.ADMIN)
    assert store.verify_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.verify_token("") is None
    (listed,) = store.list_tokens()
    assert listed.last_used_at == clock.now


def test_revoked_tokens_no_longer_verify(store: fleet.Store, clock: Clock):
    _, token = store.create_token("ci", Scope.ADMIN, actor="cli")
    clock.advance(minutes=5)
    assert store.revoke_token("ci", actor="admin-token", reason="leaked in a log")
    assert not store.revoke_token("ci", actor="admin-token")
    assert store.verify_token(token) is None
    (info,) = store.list_tokens()
    assert info.revoked_at == clock.now
    actions = [(e.actor, e.action, e.target, e.reason) for e in store.audit_log()]
    assert actions == [("admin-token", "token.revoke", "token:ci", "leaked in a log"),
                       ("cli", "token.create", "token:ci", "")]


def test_token_names_are_unique(store: fleet.Store):
    store.create_token("ci", Scope.READ, actor="cli")
    with pytest.raises(UsageError, match="a token named 'ci' exists"):
        store.create_token("ci", Scope.ADMIN, actor="cli")
    with pytest.raises(UsageError, match="1-200 printable"):
        store.create_token("bad\x1bname", Scope.READ, actor="cli")


def test_last_used_is_written_at_most_once_a_minute(store: fleet.Store, clock: Clock):
    _, token = store.create_token("ci", Scope.READ, actor="cli")
    first = clock.now
    store.verify_token(token)
    clock.advance(seconds=30)
    store.verify_token(token)
    assert store.list_tokens()[0].last_used_at == first
    clock.advance(seconds=31)
    store.verify_token(token)
    assert store.list_tokens()[0].last_used_at == clock.now


def test_triage_decisions_are_kept_and_audited(store: fleet.Store):
    vex = TriageDecision(scope=TriageScope.REPOSITORY, target="registry.example/app",
                         advisory_id="CVE-2024-3094", action=TriageAction.VEX,
                         vex_status="not_affected",
                         vex_justification="vulnerable_code_not_in_execute_path",
                         reason="sshd is not in the image")
    assign = TriageDecision(scope=TriageScope.IMAGE, target=DIGEST_A,
                            advisory_id="CVE-2024-0001", action=TriageAction.ASSIGN,
                            assignee="alice", reason="owner of the base")
    store.decide(vex, actor="alice-token")
    store.decide(assign, actor="bob-token")
    store.decide(TriageDecision(scope=TriageScope.IMAGE, target=DIGEST_A,
                                advisory_id="CVE-2024-0001", action=TriageAction.ASSIGN,
                                assignee="carol", reason="alice is away"), actor="bob-token")
    got = store.decisions(digest=DIGEST_A, repository="registry.example/app")
    assert [(d.advisory_id, d.action, d.assignee, d.vex_status) for d in got] == [
        ("CVE-2024-0001", "assign", "carol", ""),
        ("CVE-2024-3094", "vex", "", "not_affected")]
    assert store.decisions(digest=DIGEST_B) == ()
    log = store.audit_log(target=f"image:{DIGEST_A}")
    assert [(e.actor, e.reason, e.details["assignee"]) for e in log] == [
        ("bob-token", "alice is away", "carol"), ("bob-token", "owner of the base", "alice")]
    (older,) = store.audit_log(before=log[-1].id)
    assert older.action == "triage.vex" and older.details["vexStatus"] == "not_affected"


def dep(cluster: str, workload: str, digest: str) -> fleet.Deployment:
    return fleet.Deployment(cluster=cluster, namespace="default", workload=workload,
                            container="main", image_digest=digest)


def test_deployments_are_replaced_per_cluster(store: fleet.Store):
    assert store.replace_deployments("prod", [dep("prod", "a", DIGEST_A),
                                              dep("prod", "b", DIGEST_B)]) == 2
    store.replace_deployments("staging", [dep("staging", "a", DIGEST_A)])
    # prod's next report: b was removed, c added; staging is untouched.
    store.replace_deployments("prod", [dep("prod", "a", DIGEST_A), dep("prod", "c", DIGEST_C)])
    assert [(d.cluster, d.workload) for d in store.deployments_of(DIGEST_A)] == [
        ("prod", "a"), ("staging", "a")]
    assert store.deployments_of(DIGEST_B) == ()
    assert [d.workload for d in store.deployments_in("prod")] == ["a", "c"]
    store.replace_deployments("staging", [])
    assert store.deployments_in("staging") == ()


def test_a_deployment_of_another_cluster_is_refused_and_nothing_changes(store: fleet.Store):
    store.replace_deployments("prod", [dep("prod", "a", DIGEST_A)])
    with pytest.raises(UsageError, match="in cluster 'staging', not 'prod'"):
        store.replace_deployments("prod", [dep("prod", "b", DIGEST_B),
                                           dep("staging", "x", DIGEST_C)])
    assert [d.workload for d in store.deployments_in("prod")] == ["a"]
