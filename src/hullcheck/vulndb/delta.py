"""What changed between two advisory databases: the work list of an incremental re-match.

    delta = diff(old, new)          # paths or open VulnStores; old=None: everything is new
    delta.names()                   # {(ecosystem, package key)}: the stored packages to re-match
    delta.touches("Debian:12", "libssl3", "openssl")   # a package, by its name and source name
    args = delta.scope().to_json()  # compact job argument; "full" past MAX_SCOPE_KEYS keys
    Scope.from_json(args).touches("PyPI", "Requests")

The unit is the store's own ``packages`` row: one (OSV ecosystem, package key) holding every
advisory's statement about that package (distro records are keyed by *source* package, so
the names include them). Both tables are WITHOUT ROWID, so a plain scan yields rows in
primary-key order, and the two scans are merged in one pass comparing the stored JSON text:
equal text is an unchanged row and is never decoded. Only rows whose text differs are
decoded, to say which advisories' statements changed in them.

Advisories are judged by what they say about packages (the matcher's view): *added* when the
matcher did not see the advisory and now does, *withdrawn* when it did and now does not (the
record is gone, or now carries ``withdrawn``), *changed* when it stays and one of its package
statements differs (ranges, versions, severity, aliases, distro status...). A change of prose
alone (summary, details, references) changes no finding and is not reported. KEV entries are
compared whole, by CVE: a KEV change changes findings (``Finding.kev``), not which packages
match, so a re-matcher also revisits the findings whose id or aliases name a changed CVE.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.vulndb.store import VulnStore, package_key

# Past this many keys (package keys plus KEV CVEs) a scope says "full": a job argument stays
# small, and re-matching everything is then about as cheap as reading a huge list.
MAX_SCOPE_KEYS = 5000

# WITHOUT ROWID: the table is stored in key order, so this ORDER BY is a plain scan, no sort.
_PACKAGES = "SELECT ecosystem, package_key, records FROM packages ORDER BY ecosystem, package_key"
_KEYS = "SELECT ecosystem, package_key FROM packages ORDER BY ecosystem, package_key"
_KEV = "SELECT cve, date_added, due_date, ransomware, vendor, product, name FROM kev ORDER BY cve"
_ADVISORIES = "SELECT id, withdrawn, aliases FROM advisories"
_BATCH = 400  # ids per IN (...) query


class Change(StrEnum):
    """What happened to a ``packages`` row or a KEV entry."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


class AdvisoryChange(StrEnum):
    """What happened to an advisory, as the matcher sees it."""

    ADDED = "added"
    CHANGED = "changed"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageDelta:
    ecosystem: str  # OSV ecosystem as stored: "PyPI", "Debian:12", "Alpine:v3.19"
    key: str  # the store's package key (PEP 503 name for PyPI; source package for distros)
    change: Change
    advisories: tuple[str, ...] = ()  # ids whose statement here was added, changed or removed


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisoryDelta:
    id: str
    change: AdvisoryChange
    aliases: tuple[str, ...]  # from the new record; from the old one when withdrawn by removal


@dataclass(frozen=True, slots=True, kw_only=True)
class KevDelta:
    cve: str
    change: Change


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What a re-match must revisit: stored packages by (ecosystem, package key), findings by
    KEV CVE, or (``full``) everything. Plain data, so a job can carry it as JSON."""

    full: bool = False
    names: frozenset[tuple[str, str]] = frozenset()
    kev: frozenset[str] = frozenset()
    # The ids and aliases of every advisory added, changed or withdrawn: a finding its own
    # records rate not at all takes an alias advisory's rating (``Matcher._rated``), and that
    # advisory may name another package (PYSEC-2016-41 names tryton, rating CVE-2016-1242 on
    # trytond), so such findings are revisited by id, as for KEV.
    rated: frozenset[str] = frozenset()

    def touches(self, ecosystem: str, *names: str) -> bool:
        """Whether a package searched under ``ecosystem`` by any of ``names`` (its name, and
        its source package's name for an OS package) must be re-matched."""
        return self.full or _touches(self.names, ecosystem, names)

    def touches_kev(self, ids: Iterable[str]) -> bool:
        """Whether a finding with these ids (its id and aliases) has a KEV entry that changed."""
        return self.full or not self.kev.isdisjoint(ids)

    def touches_rating(self, ids: Iterable[str]) -> bool:
        """Whether a finding with these ids, rated by an alias advisory or by none, may be
        rated differently now."""
        return self.full or not self.rated.isdisjoint(i.upper() for i in ids)

    def to_json(self) -> dict[str, Any]:
        """``{"full": true}``, or ``{"full": false, "names": {ecosystem: [key...]}, "kev":
        [cve...], "rated": [id...]}``, sorted (so equal scopes serialise equally)."""
        if self.full:
            return {"full": True}
        names: dict[str, list[str]] = {}
        for ecosystem, key in sorted(self.names):
            names.setdefault(ecosystem, []).append(key)
        return {"full": False, "names": names, "kev": sorted(self.kev),
                "rated": sorted(self.rated)}

    @classmethod
    def from_json(cls, doc: object, *, what: str = "delta scope") -> Scope:
        """A scope from ``to_json``'s form; FormatError (one line) when it is not one."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("full"), bool):
            raise FormatError(f"{what}: expected an object with a boolean 'full'")
        if doc["full"]:
            return cls(full=True)
        raw_names = doc.get("names", {})
        if not isinstance(raw_names, Mapping) or not all(
            isinstance(e, str) and _strings(keys) for e, keys in raw_names.items()
        ):
            raise FormatError(f"{what}: 'names' must map ecosystems to lists of package keys")
        kev = doc.get("kev", [])
        if not _strings(kev):
            raise FormatError(f"{what}: 'kev' must be a list of CVE ids")
        rated = doc.get("rated", [])
        if not _strings(rated):
            raise FormatError(f"{what}: 'rated' must be a list of advisory ids")
        return cls(
            names=frozenset((e, k) for e, keys in raw_names.items() for k in keys),
            kev=frozenset(kev), rated=frozenset(rated),
        )


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta:
    """The difference between two databases (see the module docstring)."""

    packages: tuple[PackageDelta, ...]  # in (ecosystem, key) order
    advisories: tuple[AdvisoryDelta, ...]  # by id
    kev: tuple[KevDelta, ...]  # by CVE
    full: bool = False  # there was no old database: everything is new
    old_built_at: str = ""
    new_built_at: str = ""
    _names: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset((p.ecosystem, p.key) for p in self.packages))

    @property
    def empty(self) -> bool:
        return not (self.packages or self.advisories or self.kev)

    def names(self) -> frozenset[tuple[str, str]]:
        """Every (ecosystem, package key) whose records were added, changed or removed."""
        return self._names

    def touches(self, ecosystem: str, *names: str) -> bool:
        """Whether a package searched under ``ecosystem`` by any of ``names`` is named."""
        return self.full or _touches(self._names, ecosystem, names)

    def scope(self, limit: int | None = MAX_SCOPE_KEYS) -> Scope:
        """The re-match work list; ``full`` when the delta is full or names more than
        ``limit`` keys (package keys plus KEV CVEs; None: no limit)."""
        if self.full or (limit is not None and len(self._names) + len(self.kev) > limit):
            return Scope(full=True)
        rated = frozenset(i.upper() for a in self.advisories for i in (a.id, *a.aliases))
        return Scope(names=self._names, kev=frozenset(k.cve for k in self.kev), rated=rated)

    def to_json(self, limit: int | None = MAX_SCOPE_KEYS) -> dict[str, Any]:
        """The compact, bounded form for a job's arguments (``Scope.from_json`` reads it)."""
        return self.scope(limit).to_json()


def diff(old: Path | str | VulnStore | None, new: Path | str | VulnStore) -> Delta:
    """What changed from database ``old`` to ``new`` (paths, or stores already open: a store
    opened before an update swapped the file keeps reading the old file). ``old=None`` means
    there was none: every package, live advisory and KEV entry of ``new`` is added.

    DatabaseError when either is missing, corrupt or of another schema version.
    """
    with _opened(new) as after:
        if old is None:
            return _everything(after)
        with _opened(old) as before:
            return _compare(before, after)


@contextmanager
def _opened(db: Path | str | VulnStore) -> Iterator[VulnStore]:
    if isinstance(db, VulnStore):
        yield db
        return
    with VulnStore.open(db, cache_size=0) as store:
        yield store


def _everything(new: VulnStore) -> Delta:
    return Delta(
        packages=tuple(
            PackageDelta(ecosystem=e, key=k, change=Change.ADDED) for e, k in new.iter_rows(_KEYS)
        ),
        advisories=tuple(
            AdvisoryDelta(id=i, change=AdvisoryChange.ADDED, aliases=_aliases(new, a))
            for i, _, a in new.iter_rows(_ADVISORIES + " WHERE withdrawn = '' ORDER BY id")
        ),
        kev=tuple(KevDelta(cve=row[0], change=Change.ADDED) for row in new.iter_rows(_KEV)),
        full=True,
        new_built_at=new.meta.get("built_at", ""),
    )


def _compare(old: VulnStore, new: VulnStore) -> Delta:
    packages: list[PackageDelta] = []
    touched: dict[str, None] = {}  # advisory ids with a statement that changed, in order met
    for before, after in _merge(old.iter_rows(_PACKAGES), new.iter_rows(_PACKAGES), 2):
        ecosystem, key = _either(before, after)[:2]
        ids = _changed(_statements(old, before), _statements(new, after))
        touched.update(dict.fromkeys(ids))
        packages.append(PackageDelta(ecosystem=ecosystem, key=key, change=_change(before, after),
                                     advisories=ids))
    kev = [KevDelta(cve=_either(before, after)[0], change=_change(before, after))
           for before, after in _merge(old.iter_rows(_KEV), new.iter_rows(_KEV), 1)]
    return Delta(
        packages=tuple(packages),
        advisories=_advisory_changes(old, new, sorted(touched)),
        kev=tuple(kev),
        old_built_at=old.meta.get("built_at", ""),
        new_built_at=new.meta.get("built_at", ""),
    )


Row = tuple[Any, ...]


def _merge(old: Iterator[Row], new: Iterator[Row], width: int) -> Iterator[tuple[Row | None,
                                                                               Row | None]]:
    """One pass over two streams of rows sorted by their first ``width`` columns (the key):
    (old row, new row) for every key whose rows differ, None standing for "absent".

    Whole rows are compared first: the common case, an unchanged row, is one tuple equality
    (the JSON texts compared as strings) and nothing is built. Rows whose keys differ order
    by their keys, since tuples compare column by column; Python orders strings by code point
    as SQLite's BINARY collation orders UTF-8 bytes.
    """
    a = next(old, None)
    b = next(new, None)
    while a is not None and b is not None:
        if a == b:
            a = next(old, None)
            b = next(new, None)
        elif a[:width] == b[:width]:
            yield a, b
            a = next(old, None)
            b = next(new, None)
        elif a < b:
            yield a, None
            a = next(old, None)
        else:
            yield None, b
            b = next(new, None)
    while a is not None:
        yield a, None
        a = next(old, None)
    while b is not None:
        yield None, b
        b = next(new, None)


def _change(before: Row | None, after: Row | None) -> Change:
    return Change.ADDED if before is None else Change.REMOVED if after is None else Change.CHANGED


def _either(before: Row | None, after: Row | None) -> Row:
    row = before if before is not None else after
    assert row is not None  # _merge never yields two Nones
    return row


def _changed(was: dict[str, list[Any]], now: dict[str, list[Any]]) -> tuple[str, ...]:
    """Ids of the advisories whose statements differ between two decoded rows, sorted."""
    return tuple(sorted(i for i in was.keys() | now.keys() if was.get(i) != now.get(i)))


def _statements(store: VulnStore, row: Row | None) -> dict[str, list[Any]]:
    """{advisory id: [its records]} of one ``packages`` row (None: no row; the records'
    form is ``store.record_to_json``'s)."""
    out: dict[str, list[Any]] = {}
    if row is None:
        return out
    ecosystem, key, text = row
    try:
        for record in json.loads(text):
            out.setdefault(str(record[0]), []).append(record)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise DatabaseError(f"{store.path} is corrupt (records of {ecosystem} {key}: {exc!r})") \
            from None
    return out


def _advisory_changes(
    old: VulnStore, new: VulnStore, ids: list[str]
) -> tuple[AdvisoryDelta, ...]:
    """Each touched advisory judged by its state in both databases: absent, withdrawn, live."""
    before = _advisory_rows(old, ids)
    after = _advisory_rows(new, ids)
    out = []
    for aid in ids:
        was, now = before.get(aid), after.get(aid)
        live_before = was is not None and not was[0]
        live_now = now is not None and not now[0]
        if live_now:
            change = AdvisoryChange.CHANGED if live_before else AdvisoryChange.ADDED
        elif live_before:
            change = AdvisoryChange.WITHDRAWN
        else:
            continue  # withdrawn (or absent) on both sides: the matcher never saw it
        row = now if now is not None else was
        assert row is not None  # live on one side
        store = new if now is not None else old
        out.append(AdvisoryDelta(id=aid, change=change, aliases=_aliases(store, row[1])))
    return tuple(out)


def _advisory_rows(store: VulnStore, ids: list[str]) -> dict[str, tuple[str, str]]:
    """{id: (withdrawn, aliases JSON)} for the ids the database holds."""
    out: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        marks = ",".join("?" * len(chunk))  # placeholders only, never data
        for aid, withdrawn, aliases in store.iter_rows(
            f"{_ADVISORIES} WHERE id IN ({marks})", tuple(chunk)
        ):
            out[aid] = (withdrawn, aliases)
    return out


def _aliases(store: VulnStore, text: str) -> tuple[str, ...]:
    try:
        aliases = json.loads(text)
    except ValueError as exc:
        raise DatabaseError(f"{store.path} is corrupt (aliases: {exc})") from None
    if not _strings(aliases):
        raise DatabaseError(f"{store.path} is corrupt (aliases are not a list of strings)")
    return tuple(aliases)


def _touches(named: frozenset[tuple[str, str]], ecosystem: str, names: tuple[str, ...]) -> bool:
    """Whether (ecosystem, key of a name) is in ``named``. ``ecosystem`` may be a search
    pattern (``Red Hat:enterprise_linux:9::*``, as ``ecosystem.osv_ecosystems`` gives them for
    distros whose advisories name products): then every named ecosystem it matches counts."""
    if "*" not in ecosystem:
        return any((ecosystem, package_key(ecosystem, n)) in named for n in names)
    keys = {package_key(ecosystem, n) for n in names}
    return any(key in keys and fnmatchcase(eco, ecosystem) for eco, key in named)
