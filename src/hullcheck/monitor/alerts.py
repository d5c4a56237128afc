"""Alert rules as the store's router: which channels want an event (its type and payload).

A pure function of the config and the event, called by the store inside the transaction
that writes the event, so each event and its deliveries are written together (the outbox).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hullcheck.fleet import Router
from hullcheck.model import Severity
from hullcheck.monitor.config import AlertRule, Config

FINDING_EVENTS = frozenset({"new-finding", "fixed-finding", "finding-changed"})


def _severity(finding: Mapping[str, Any]) -> Severity:
    try:
        return Severity.parse(str(finding.get("severity", "unknown")))
    except ValueError:
        return Severity.UNKNOWN


def _malicious(finding: Mapping[str, Any]) -> bool:
    return finding.get("severity") == "malicious" or finding.get("status") == "malicious"


def wants(rule: AlertRule, kind: str, payload: Mapping[str, Any]) -> bool:
    """Whether ``rule`` routes this event: its type listed, and every condition it sets."""
    if kind not in rule.when:
        return False
    image = payload.get("image") or {}
    repository = str(image.get("repository", "")) if isinstance(image, Mapping) else ""
    if rule.repositories and not any(g.matches(repository) for g in rule.repositories):
        return False
    if kind not in FINDING_EVENTS:
        return True
    finding = payload.get("finding") or {}
    if not isinstance(finding, Mapping):
        return False
    if finding.get("suppressed") and not rule.include_suppressed and kind == "new-finding":
        return False
    if rule.min_severity is not None and _severity(finding) < rule.min_severity:
        return False
    if rule.malicious and not _malicious(finding):
        return False
    return not (rule.kev and not finding.get("kev"))


def channels_for(config: Config, kind: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The channels of every rule that wants the event, then the extra channels of the
    image's repository rules (only for events some rule routes), each once."""
    chosen: dict[str, None] = {}
    for rule in config.alerts:
        if wants(rule, kind, payload):
            chosen.update(dict.fromkeys(rule.channels))
    if chosen:
        image = payload.get("image") or {}
        repository = str(image.get("repository", "")) if isinstance(image, Mapping) else ""
        for repo_rule in config.repositories:
            if repo_rule.match.matches(repository):
                chosen.update(dict.fromkeys(repo_rule.channels))
    return tuple(chosen)


def router(config: Config) -> Router:
    def route(kind: str, payload: dict[str, Any]) -> Iterable[str]:
        return channels_for(config, kind, payload)

    return route
