"""The monitoring service's jobs: intake, delta re-match, alert rules, delivery.

Each job is a plain function over plain arguments. ``channels`` delivers rendered events
(webhook, Slack, email) and says whether a delivery succeeded, may be retried, or never will.
"""
