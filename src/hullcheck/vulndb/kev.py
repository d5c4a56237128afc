"""CISA's Known Exploited Vulnerabilities catalog (``known_exploited_vulnerabilities.json``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vulndb.model import KevEntry

MAX_FILE = 256 * 1024 * 1024
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")  # fullmatch: `$` would let a trailing newline in


def read(path: Path, *, errors: list[FormatError]) -> Iterator[KevEntry]:
    data = untrusted.read_file(path, what="KEV catalog", limit=MAX_FILE)
    doc = untrusted.json_document(data, what=str(path))
    vulns = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(vulns, list):
        raise FormatError(f"{path}: not a KEV catalog (no 'vulnerabilities' list)")
    for i, v in enumerate(vulns):
        cve = v.get("cveID") if isinstance(v, dict) else None
        if not isinstance(cve, str) or not _CVE.fullmatch(cve):
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
