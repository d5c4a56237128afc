"""The monitoring service's store: images, their packages and findings over time, where
they run and who owns them; the events outbox, jobs, tokens and the audit log.

Queries only, no decisions: the monitor decides what to scan, which events go to which
channels and when to retry; the store keeps the facts, transactionally (docs/fleet.md).

    from hullcheck import fleet
    with fleet.open(url) as store:       # applies the missing migrations first
        ...
"""

from hullcheck.fleet.db import data_dir_url
from hullcheck.fleet.model import (
    Changes,
    Deployment,
    EventType,
    FindingRow,
    ImageRecord,
    LayerRecord,
    PackageRow,
    Scope,
    TriageAction,
    TriageDecision,
    TriageScope,
)
from hullcheck.fleet.queries import ImagePackages
from hullcheck.fleet.scans import Router
from hullcheck.fleet.store import Store, open

__all__ = [
    "Changes",
    "Deployment",
    "EventType",
    "FindingRow",
    "ImagePackages",
    "ImageRecord",
    "LayerRecord",
    "PackageRow",
    "Router",
    "Scope",
    "Store",
    "TriageAction",
    "TriageDecision",
    "TriageScope",
    "data_dir_url",
    "open",
]
