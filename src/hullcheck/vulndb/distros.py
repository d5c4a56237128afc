"""What distro records in OSV say in their own way, put into the shape the matcher reads.

* Ubuntu publishes a record per CVE (``UBUNTU-CVE-...``, every release's status) and one
  per notice (``USN-...``: the fixes of one update; ``LSN-...``: a Livepatch module). The
  CVE records hold every fix the notices announce (Ubuntu's own documentation says to read
  notices with them), so the notices are left out: one finding per CVE, not one more per
  notice that fixed it.
* Red Hat, Rocky Linux and AlmaLinux name a record's module stream only in its summary
  ("python39:3.9 security update", "Important: nodejs:20 security update"). A fix built
  inside a module (release ``...module+el8...``) gets that stream as the ``rpmmod``
  qualifier of its purl, as Red Hat's own newer purls carry it, for ``match/distros.py``.
"""

from __future__ import annotations

import dataclasses
import re

from packageurl import PackageURL

from hullcheck.ecosystem import DISTROS
from hullcheck.vulndb.model import Advisory, Affected

_NOTICES = ("USN-", "LSN-")
_MODULAR = tuple(sorted({d.ecosystem for d in DISTROS.values() if d.modular}))
# "name:stream" in a summary; "Advisory:" / "Important:" are followed by a space.
_STREAM = re.compile(r"(?<![\w:.+-])([A-Za-z0-9][\w.+-]*):([\w.+-]*\w)(?![\w:])")
MODULE_BUILD = re.compile(r"\.module[+_]")  # "1.module+el8.5.0+10613+59a13ec4", "module_el9"


def normalise(adv: Advisory) -> Advisory | None:
    """The advisory as the store keeps it; None for a record that is left out."""
    if adv.id.startswith(_NOTICES) and all(a.ecosystem.startswith("Ubuntu")
                                           for a in adv.affected):
        return None
    if any(a.ecosystem.startswith(_MODULAR) for a in adv.affected):
        streams = module_streams(adv.summary)
        if streams:
            adv = dataclasses.replace(
                adv, affected=tuple(_with_streams(a, streams) for a in adv.affected))
    return adv


_NOT_A_MODULE = re.compile(r"[A-Z]+SA-\d{4}|CVE-\d{4}")  # "RHSA-2024:6220" is an id


def module_streams(summary: str) -> tuple[str, ...]:
    """The "name:stream" module streams a Red Hat-style summary names."""
    return tuple(dict.fromkeys(f"{m.group(1)}:{m.group(2)}" for m in _STREAM.finditer(summary)
                               if not _NOT_A_MODULE.fullmatch(m.group(1))))


def _with_streams(a: Affected, streams: tuple[str, ...]) -> Affected:
    if not a.ecosystem.startswith(_MODULAR) or not any(
            MODULE_BUILD.search(v) for v in a.fixed_versions):
        return a
    try:
        purl = PackageURL.from_string(a.purl) if a.purl else None
    except ValueError:
        purl = None
    if purl is None:
        purl = PackageURL(type="rpm", name=a.package)
    qualifiers = dict(purl.qualifiers) if isinstance(purl.qualifiers, dict) else {}
    if "rpmmod" in qualifiers:
        return a  # the record's own
    qualifiers["rpmmod"] = ",".join(streams)
    return dataclasses.replace(a, purl=PackageURL(
        type=purl.type, namespace=purl.namespace, name=purl.name, version=purl.version,
        qualifiers=qualifiers, subpath=purl.subpath).to_string())
