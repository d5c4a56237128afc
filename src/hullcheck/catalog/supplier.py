"""Package suppliers as package databases name them → ``model.Supplier``.

Debian's ``Maintainer``, Alpine's ``m:`` and RPM's ``Packager`` are ``Name <address>`` or a bare
name; RPM's ``Vendor`` is an organisation's name. A maintainer is a person unless the field
names a team: a mailing-list address (``lists.debian.org``, ``alioth-lists.debian.net``,
``tracker.debian.org``) or a name ending in a word such as "Maintainers" or "Team".
"""

from __future__ import annotations

from hullcheck.model import Supplier, SupplierKind, split_contact

MAX_NAME = 1000  # a longer field is cut: a name, not a document

_TEAM_WORDS = frozenset({"maintainers", "team", "group", "developers", "project", "packagers"})
_LIST_HOSTS = frozenset({"lists", "alioth-lists"})  # first label of a mailing list's host


def supplier(field: str, kind: SupplierKind | None = None) -> Supplier | None:
    """The supplier a field names; None when it is empty. ``kind`` when the field says what it
    is (RPM's Vendor: an organisation), else a person or a team as the module says."""
    text = " ".join(field.split())[:MAX_NAME]
    if not text or text.lower() in ("(none)", "unknown"):
        return None
    name, email = split_contact(text)
    return Supplier(name=name or email, email=email, kind=kind or _kind(name, email))


def _kind(name: str, email: str) -> SupplierKind:
    host = email.rpartition("@")[2].lower()
    words = name.lower().split()
    if (host.split(".", 1)[0] in _LIST_HOSTS or host == "tracker.debian.org"
            or (words and words[-1] in _TEAM_WORDS)):
        return SupplierKind.ORGANIZATION
    return SupplierKind.PERSON
