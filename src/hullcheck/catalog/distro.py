"""Distro detection from os-release (``/etc/os-release``, then ``/usr/lib/os-release``)."""

from __future__ import annotations

import shlex

from hullcheck.filetree import View
from hullcheck.model import Distro

GLOBS = ("/etc/os-release", "/usr/lib/os-release", "/etc/alpine-release", "/etc/debian_version")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell-style quoting, as os-release(5) specifies."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value, posix=True)
            fields[key.strip()] = parts[0] if parts else ""
        except ValueError:
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def detect(view: View) -> Distro | None:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        data = view.read(path)
        if data is None:
            continue
        f = parse_os_release(data.decode("utf-8", errors="replace"))
        if not f.get("ID"):
            continue
        distro_id = f["ID"].lower()
        version_id = f.get("VERSION_ID", "")
        if distro_id == "alpine":
            # /etc/alpine-release carries the full patch version; os-release may lag.
            rel = view.read("/etc/alpine-release")
            if rel and rel.strip():
                version_id = rel.decode("ascii", errors="replace").strip()
        codename = f.get("VERSION_CODENAME", "")
        if not codename and distro_id == "debian" and "(" in f.get("VERSION", ""):
            codename = f["VERSION"].split("(", 1)[1].rstrip(")").strip()
        if distro_id == "debian" and not version_id:
            # testing/sid carry no VERSION_ID; /etc/debian_version says e.g. "trixie/sid".
            dv = view.read("/etc/debian_version")
            if dv:
                codename = codename or dv.decode("ascii", errors="replace").strip().split("/")[0]
        return Distro(
            id=distro_id,
            version_id=version_id,
            codename=codename,
            name=f.get("NAME", ""),
            pretty_name=f.get("PRETTY_NAME", ""),
            id_like=tuple(f.get("ID_LIKE", "").split()),
        )
    return None
