"""CISA's Known Exploited Vulnerabilities catalog (``known_exploited_vulnerabilities.json``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from hullcheck.errors import FormatError
from hullcheck.vulndb.model import KevEntry

MAX_FILE = 256 * 1024 * 1024
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


def read(path: Path, *, errors: list[FormatError]) -> Iterator[KevEntry]:
    try:
        if path.stat().st_size > MAX_FILE:
            raise FormatError(f"{path}: too large for a KEV catalog")
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{path}: not valid JSON: {exc}") from None
    vulns = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(vulns, list):
        raise FormatError(f"{path}: not a KEV catalog (no 'vulnerabilities' list)")
    for i, v in enumerate(vulns):
        cve = v.get("cveID") if isinstance(v, dict) else None
        if not isinstance(cve, str) or not _CVE.match(cve):
            errors.append(FormatError(f"{path}: vulnerabilities[{i}]: missing or invalid cveID"))
            continue
        assert isinstance(v, dict)
        fields = {
            k: v.get(k, "")
            for k in (
                "dateAdded",
                "dueDate",
                "knownRansomwareCampaignUse",
                "vendorProject",
                "product",
                "vulnerabilityName",
            )
        }
        if not all(isinstance(x, str) for x in fields.values()) or not fields["dateAdded"]:
            errors.append(FormatError(f"{path}: {cve}: fields must be strings; dateAdded required"))
            continue
        yield KevEntry(
            cve=cve,
            date_added=fields["dateAdded"],
            due_date=fields["dueDate"],
            known_ransomware=fields["knownRansomwareCampaignUse"],
            vendor=fields["vendorProject"],
            product=fields["product"],
            name=fields["vulnerabilityName"],
        )
