"""The outbox's deliveries and the job queue: leases, retries, dead letters; concurrent
claims from two threads never share a row; a killed worker's job is claimed again."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable

from hullcheck import fleet
from hullcheck.fleet.model import DeliveryStatus, JobStatus
from tests.fleet.conftest import DIGEST_A, Clock, deb, finding, image

LEASE = dt.timedelta(seconds=60)


def events_with_deliveries(store: fleet.Store, n: int, channels: tuple[str, ...]) -> None:
    pkg = deb("openssl", "3.0.11")
    store.record_scan(image(), [pkg], [finding(f"CVE-2025-{i:04d}", pkg) for i in range(n)],
                      route=lambda kind, payload: channels)


def test_delivery_lifecycle(store: fleet.Store, clock: Clock):
    events_with_deliveries(store, 1, ("ops",))
    (d,) = store.claim_deliveries("w1", lease=LEASE)
    assert (d.channel, d.attempts, d.event.type) == ("ops", 1, "new-finding")
    assert d.idempotency_key == f"{d.event.uid}:ops"
    assert store.claim_deliveries("w2", lease=LEASE) == []  # leased
    # The channel refused: retried at the caller's backoff, not before.
    assert store.mark_failed(d.id, "w1", error="HTTP 503", retry_at=clock.now + LEASE * 2)
    clock.advance(seconds=90)
    assert store.claim_deliveries("w2", lease=LEASE) == []
    clock.advance(seconds=60)
    (again,) = store.claim_deliveries("w2", lease=LEASE)
    assert (again.id, again.attempts, again.last_error) == (d.id, 2, "HTTP 503")
    assert not store.mark_delivered(d.id, "w1")  # w1 no longer holds it
    assert store.mark_delivered(d.id, "w2")
    (done,) = store.deliveries(DeliveryStatus.DELIVERED)
    assert done.delivered_at == clock.now
    assert store.claim_deliveries("w3", lease=LEASE) == []


def test_dead_letters_and_retry(store: fleet.Store, clock: Clock):
    events_with_deliveries(store, 1, ("ops",))
    (d,) = store.claim_deliveries("w1", lease=LEASE)
    assert store.mark_failed(d.id, "w1", error="HTTP 410 Gone", retry_at=None)
    (dead,) = store.dead_letters()
    assert (dead.id, dead.status, dead.last_error) == (d.id, DeliveryStatus.DEAD, "HTTP 410 Gone")
    assert store.claim_deliveries("w1", lease=LEASE) == []
    assert store.retry_delivery(d.id)
    assert not store.retry_delivery(d.id)  # no longer dead
    (back,) = store.claim_deliveries("w1", lease=LEASE)
    assert (back.id, back.attempts) == (d.id, 1)


def test_a_delivery_whose_worker_died_is_claimed_again_then_dead(store: fleet.Store,
                                                                   clock: Clock):
    events_with_deliveries(store, 1, ("ops",))
    keys = set()
    for attempt in (1, 2, 3):
        (d,) = store.claim_deliveries(f"w{attempt}", lease=LEASE, max_attempts=3)
        assert d.attempts == attempt
        keys.add(d.idempotency_key)
        clock.advance(seconds=61)  # the worker died holding the lease
    assert len(keys) == 1  # every resend carries the same key: the receiver can drop repeats
    assert store.claim_deliveries("w4", lease=LEASE, max_attempts=3) == []
    (dead,) = store.dead_letters()
    assert dead.last_error == "the lease expired on every attempt"


def claim_concurrently(claim: Callable[[str], list[int]]) -> list[int]:
    """Two threads claim until nothing is left; every id claimed, in claim order."""
    barrier = threading.Barrier(2)
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        barrier.wait()
        try:
            while ids := claim(name):
                with lock:
                    claimed.extend(ids)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    return claimed


def test_concurrent_delivery_claims_never_share_a_row(store_url: str):
    with fleet.open(store_url) as store:
        events_with_deliveries(store, 100, ("ops", "mail"))
        by_worker: Counter[str] = Counter()

        def claim(worker: str) -> list[int]:
            got = [d.id for d in store.claim_deliveries(worker, lease=LEASE, limit=3)]
            by_worker[worker] += len(got)
            return got

        claimed = claim_concurrently(claim)
        assert len(claimed) == 200 and len(set(claimed)) == 200
        assert sum(by_worker.values()) == 200


def test_concurrent_job_claims_never_share_a_row(store_url: str):
    with fleet.open(store_url) as store:
        for i in range(60):
            store.enqueue("scan", {"n": i})

        def claim(worker: str) -> list[int]:
            job = store.claim_job(worker, lease=LEASE)
            if job is None:
                return []
            assert store.complete_job(job.id, worker)
            return [job.id]

        claimed = claim_concurrently(claim)
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60


def test_job_lifecycle(store: fleet.Store, clock: Clock):
    later = store.enqueue("scan", {"reference": "b"}, run_after=clock.now + LEASE)
    first = store.enqueue("scan", {"reference": "a"}, max_attempts=2)
    job = store.claim_job("w1", lease=LEASE)
    assert job is not None and (job.id, job.args, job.status) == (
        first, {"reference": "a"}, JobStatus.RUNNING)
    assert store.claim_job("w2", lease=LEASE, kinds=["scan"]) is None  # `later` is not due
    assert store.fail_job(first, "w1", error="registry said 500", retry_at=clock.now)
    again = store.claim_job("w2", lease=LEASE)
    assert again is not None and (again.id, again.attempts) == (first, 2)
    assert store.fail_job(first, "w2", error="still 500", retry_at=clock.now)
    failed = store.job(first)
    assert failed is not None and (failed.status, failed.last_error) == (
        JobStatus.FAILED, "still 500")  # two attempts were all it had
    clock.advance(seconds=60)
    assert store.claim_job("w1", lease=LEASE, kinds=["rematch"]) is None
    nxt = store.claim_job("w1", lease=LEASE)
    assert nxt is not None and nxt.id == later
    assert store.renew_job(later, "w1", lease=LEASE)
    assert not store.complete_job(later, "w2")
    assert store.complete_job(later, "w1")
    done = store.job(later)
    assert done is not None and done.status is JobStatus.DONE and done.finished_at == clock.now


CLAIM_AND_HANG = """
import datetime as dt, sys, time
from hullcheck import fleet
store = fleet.open(sys.argv[1])
job = store.claim_job("doomed-worker", lease=dt.timedelta(seconds=30))
print(job.id if job else "none", flush=True)
time.sleep(600)
"""


def test_a_killed_workers_job_is_claimed_again_after_its_lease(store_url: str):
    with fleet.open(store_url) as store:
        job_id = store.enqueue("scan", {"reference": "registry.example/app:1"})
        worker = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HANG, store_url],
                                  stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == str(job_id)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        held = store.job(job_id)
        assert held is not None and held.locked_by == "doomed-worker"
        assert held.status is JobStatus.RUNNING and held.locked_until is not None
        # While the lease runs nobody else gets it; once it has lapsed, the next claim does.
        until = held.locked_until
        store.clock = lambda: until - dt.timedelta(seconds=1)
        assert store.claim_job("w2", lease=LEASE) is None
        store.clock = lambda: until + dt.timedelta(seconds=1)
        again = store.claim_job("w2", lease=LEASE)
        assert again is not None and (again.id, again.attempts, again.locked_by) == (
            job_id, 2, "w2")


def test_a_job_whose_lease_lapsed_on_its_last_attempt_fails(store: fleet.Store, clock: Clock):
    job_id = store.enqueue("scan", {}, max_attempts=1)
    assert store.claim_job("w1", lease=LEASE) is not None
    clock.advance(seconds=61)
    assert store.claim_job("w2", lease=LEASE) is None
    job = store.job(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.last_error == "the lease expired on every attempt"


def test_the_monitors_own_events_get_their_deliveries(store: fleet.Store):
    store.record_pending(DIGEST_A, "registry.example/app", ["1.0"])
    event_id = store.add_event("policy-failed", DIGEST_A, {"event": "policy-failed"},
                               ["ops", "ops", "mail"])
    (event,) = store.events_since(0)
    assert (event.id, event.type, event.image_digest) == (event_id, "policy-failed", DIGEST_A)
    assert store.events_since(event_id) == []
    pending = store.deliveries(DeliveryStatus.PENDING, event_id=event_id)
    assert sorted(d.channel for d in pending) == ["mail", "ops"]
