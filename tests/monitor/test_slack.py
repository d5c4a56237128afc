"""The Slack channel: one incoming-webhook message summarising a batch, posted to a real
receiver on 127.0.0.1; the digest it shares with email."""

from __future__ import annotations

import json

from hullcheck.monitor.channels import (
    MAX_GROUPS,
    MAX_LINES,
    Outcome,
    channel_from_config,
    digest,
)
from tests.monitor.events import APP, WORKER, finding_event
from tests.monitor.receivers import Reply, receiver

TOKEN_PATH = "/services/T0001/B0002/SlackT0ken"


def batch() -> list[dict]:
    """One run's events: 3 critical for app:1.2, 45 for worker:7, a policy failure for
    app:1.2, and one finding in each of 12 other images."""
    events = [finding_event(f"CVE-2024-000{i}", "critical", "openssl", "3.0.11-1",
                            fixed=("3.0.13-1",), kev=i == 1) for i in range(1, 4)]
    events += [finding_event(f"CVE-2023-{1000 + i}", "high" if i % 3 else "medium",
                             f"lib{i}<b>&", "1.0", image=WORKER) for i in range(45)]
    events.append({"event": "policy-failed", "image": APP, "summary": "rule no-critical denied",
                   "occurredAt": "2026-01-02T03:04:05Z"})
    for i in range(12):
        other = {"digest": f"sha256:{i:064x}", "repository": f"registry.example/svc{i}",
                 "tags": ["1"]}
        events.append(finding_event(f"CVE-2022-{i:04}", "low", "zlib", "1.2.11", image=other))
    return events


def test_a_batch_is_one_message_with_a_digest() -> None:
    events = batch()
    with receiver() as rec:
        channel = channel_from_config({"name": "team", "type": "slack", "url-env": "SLACK_URL"},
                                      environ={"SLACK_URL": rec.url(TOKEN_PATH)})
        result = channel.send(events, "run-7.team")
    assert result.ok
    assert len(rec.deliveries) == 1  # a digest per run, not one message per finding
    d = rec.deliveries[0]
    assert d.path == TOKEN_PATH and d.headers["x-hullcheck-delivery"] == "run-7.team"
    msg = json.loads(d.body)
    title = "3 new critical findings in registry.example/app:1.2 (sha256:abcdef012345…)"
    assert msg["text"].startswith(f"hullcheck: {title}")
    blocks = msg["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                   "text": blocks[0]["text"]["text"]}}
    assert blocks[0]["text"]["text"].startswith(title)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == MAX_GROUPS and len(blocks) <= 50
    assert all(len(s) <= 3000 for s in sections)
    first = sections[0].splitlines()
    assert first[0] == f"*{title}*"
    assert first[1] == "• CVE-2024-0001 (critical) in openssl 3.0.11-1, fixed in 3.0.13-1, " \
                       "known exploited (KEV)"
    assert len(first) == 4
    worker = next(s for s in sections if "registry.example/worker:7" in s)
    assert worker.splitlines()[0] == \
        "*45 new findings (30 high, 15 medium) in registry.example/worker:7 (sha256:999999012345…)*"
    assert worker.count("\n• ") == MAX_LINES and worker.endswith(f"_and {45 - MAX_LINES} more_")
    # Names from images are escaped: no link, mention or markup can be injected.
    assert "lib1&lt;b&gt;&amp;" in worker and "<b>" not in worker
    assert any(s.startswith("*policy failed for registry.example/app:1.2") for s in sections)
    # 1 + 1 + 1 + 12 groups, 10 shown: 5 more groups of one event each.
    assert blocks[-1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "and 5 more events in 5 more groups"}]}


def test_slack_answers_are_judged_like_webhooks_and_the_url_stays_secret() -> None:
    events = batch()[:3]
    with receiver(Reply(429, (("Retry-After", "30"),), b"rate_limited"),
                  Reply(404, body=b"no_service"), Reply(200)) as rec:
        channel = channel_from_config({"name": "team", "type": "slack",
                                       "url": rec.url(TOKEN_PATH)})
        limited = channel.send(events, "run-8.team")
        gone = channel.send(events, "run-8.team")
    assert (limited.outcome, limited.retry_after) == (Outcome.RETRY, 30.0)
    assert gone.outcome is Outcome.PERMANENT and "no_service" in gone.detail
    for text in (limited.detail, gone.detail, repr(channel)):
        assert "SlackT0ken" not in text and "T0001" not in text


def test_digest_text_and_html_are_the_same_summary() -> None:
    d = digest(batch())
    text, page = d.text(), d.html()
    assert text.startswith("3 new critical findings in registry.example/app:1.2 "
                           "(sha256:abcdef012345…) (and 14 more groups)\n")
    assert "  - CVE-2024-0001 (critical) in openssl 3.0.11-1, fixed in 3.0.13-1" in text
    assert "  and 40 more" in text and text.rstrip().endswith("and 5 more events in 5 more groups")
    assert "lib1&lt;b&gt;&amp;" in page and "lib1<b>&" not in page
    assert page.count("<h3>") == MAX_GROUPS
    one = digest([finding_event("CVE-2024-1", "high", "zlib", "1.2", kind="fixed-finding")])
    assert one.title == "1 high finding fixed in registry.example/app:1.2 (sha256:abcdef012345…)"
