"""The admission webhook's Prometheus metrics, served on ``GET /metrics``.

prometheus_client writes the text exposition format (escaping, histogram buckets, ``_total``
suffixes) as Prometheus parses it; each server has its own registry, so two servers in one
process (the tests) count apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hullcheck.server.admission import Verdict

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: a cached decision takes milliseconds, a cold one with signature checks seconds.
DECISION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ERROR_REASONS = ("bad_review", "internal", "header_timeout", "body_timeout", "too_large",
                 "protocol", "too_many_connections")


class AdmissionMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reviews = Counter("hullcheck_admission_reviews", "Reviews answered, by verdict.",
                               ["verdict"], registry=r)
        self.failures = Counter("hullcheck_admission_failures",
                                "Reviews decided by the failure policy: a registry could not be "
                                "reached, or the review was not evaluated in time.", registry=r)
        self.timeouts = Counter("hullcheck_admission_timeouts",
                                "Reviews answered at --review-timeout before their evaluation "
                                "finished.", registry=r)
        self.busy = Counter("hullcheck_admission_busy",
                            "Reviews answered without evaluation: --max-concurrent-reviews were "
                            "already in progress.", registry=r)
        self.errors = Counter("hullcheck_admission_errors",
                              "Requests that got no decision (malformed, too slow, too large) "
                              "or an internal error, by reason.", ["reason"], registry=r)
        self.decision_seconds = Histogram("hullcheck_admission_decision_seconds",
                                          "Time from a complete request to its answer.",
                                          buckets=DECISION_BUCKETS, registry=r)
        self.in_flight = Gauge("hullcheck_admission_in_flight",
                               "Reviews being evaluated, including those already answered at "
                               "the deadline whose evaluation still runs.", registry=r)
        for verdict in ("allowed", "denied"):
            self.reviews.labels(verdict=verdict)
        for reason in ERROR_REASONS:
            self.errors.labels(reason=reason)

    def decided(self, verdict: Verdict, seconds: float) -> None:
        self.reviews.labels(verdict="allowed" if verdict.allowed else "denied").inc()
        self.decision_seconds.observe(seconds)
        if verdict.unreachable:
            self.failures.inc()
        if verdict.timed_out:
            self.timeouts.inc()
        if verdict.busy:
            self.busy.inc()
        if verdict.internal_error:
            self.errors.labels(reason="internal").inc()

    def error(self, reason: str) -> None:
        self.errors.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
