"""Delivering events: claim due deliveries under a lease, send them through their channel,
mark each delivered, retried later (exponential backoff with jitter, or the receiver's
Retry-After) or dead.

A webhook gets one POST per delivery; Slack and email get one digest per channel per run,
keyed by the first delivery's key and the count. A worker killed while sending leaves its
lease to lapse; the next run claims those deliveries again and sends them with the same
idempotency key, so a receiver that keeps keys sees each delivery once (docs/monitor.md).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hullcheck.fleet.model import Delivery
from hullcheck.monitor import queue
from hullcheck.monitor.channels import Channel, DeliveryResult, Outcome
from hullcheck.monitor.context import Context

MAX_ATTEMPTS = 8  # then the delivery is a dead letter
BASE_DELAY = 30.0  # seconds before the first retry
MAX_DELAY = 3600.0
CLAIM = 50  # deliveries claimed at a time
MAX_ROUNDS = 200  # claims per run, then the next run goes on


def backoff(attempts: int, *, retry_after: float | None = None,
            rng: random.Random | None = None) -> float:
    """Seconds before the next attempt: ``BASE_DELAY * 2^(attempts-1)`` capped at
    ``MAX_DELAY``, with "equal jitter" (half fixed, half random) so that deliveries failing
    together do not retry together; never sooner than the receiver's ``Retry-After``."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(attempts - 1, 0))
    delay = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
    return float(max(delay, retry_after or 0.0))


def deliver(ctx: Context, args: dict[str, Any]) -> None:
    """Send what is due; queue the next run for what is not due yet."""
    for _ in range(MAX_ROUNDS):
        claimed = ctx.store.claim_deliveries(ctx.worker, lease=ctx.delivery_lease, limit=CLAIM,
                                             max_attempts=MAX_ATTEMPTS)
        if not claimed:
            break
        by_channel: dict[str, list[Delivery]] = defaultdict(list)
        for d in claimed:
            by_channel[d.channel].append(d)
        for name, batch in by_channel.items():
            channel = ctx.config.channels.get(name)
            if channel is None:
                for d in batch:
                    ctx.store.mark_failed(d.id, ctx.worker, retry_at=None,
                                          error=f"channel {name!r} is no longer configured")
                continue
            send(ctx, channel, batch)
    due = ctx.store.next_delivery_due()
    if due is not None:
        queue.enqueue_delivery(ctx, at=max(due, ctx.clock()))


def send(ctx: Context, channel: Channel, batch: Sequence[Delivery]) -> None:
    groups = [[d] for d in batch] if not channel.digest else [list(batch)]
    for group in groups:
        key = group[0].idempotency_key if len(group) == 1 else \
            f"{group[0].idempotency_key}+{len(group)}"
        try:
            result = channel.send([d.event.payload for d in group], idempotency_key=key)
        except Exception as exc:  # a channel bug must not lose the delivery: retried, noted
            result = DeliveryResult.retry(f"{type(exc).__name__}: {exc}")
        # One retry time for the group: a digest's events stay together on the next run.
        delay = backoff(max(d.attempts for d in group), retry_after=result.retry_after)
        for d in group:
            _settle(ctx, d, result, ctx.clock() + dt.timedelta(seconds=delay))


def _settle(ctx: Context, d: Delivery, result: DeliveryResult, retry_at: dt.datetime) -> None:
    if result.outcome is Outcome.DELIVERED:
        ctx.store.mark_delivered(d.id, ctx.worker)
        return
    if result.outcome is Outcome.PERMANENT or d.attempts >= MAX_ATTEMPTS:
        ctx.store.mark_failed(d.id, ctx.worker, error=result.detail, retry_at=None)
        return
    ctx.store.mark_failed(d.id, ctx.worker, error=result.detail, retry_at=retry_at)
