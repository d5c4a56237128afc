"""Events as the monitor writes them (the webhook body shape of issue 12)."""

from __future__ import annotations

from typing import Any

APP = {"digest": "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
       "repository": "registry.example/app", "tags": ["1.2", "latest"],
       "deployments": [{"cluster": "prod", "namespace": "shop", "workload": "web"}],
       "owners": ["team-shop@example.org"]}
WORKER = {"digest": "sha256:9999990123456789abcdef0123456789abcdef0123456789abcdef0123456789",
          "repository": "registry.example/worker", "tags": ["7"]}


def finding_event(finding_id: str, severity: str, package: str, version: str, *,
                  image: dict[str, Any] = APP, kind: str = "new-finding",
                  fixed: tuple[str, ...] = (), kev: bool = False) -> dict[str, Any]:
    return {
        "event": kind,
        "image": image,
        "finding": {
            "id": finding_id, "aliases": [], "severity": severity, "status": "fixed" if fixed
            else "not-fixed", "fixedVersions": list(fixed),
            "kev": {"dateAdded": "2024-01-02", "ransomware": "Unknown"} if kev else None,
            "package": {"name": package, "version": version, "type": "deb",
                        "purl": f"pkg:deb/debian/{package}@{version}"},
            "suppressed": None,
        },
        "occurredAt": "2026-01-02T03:04:05Z",
    }
