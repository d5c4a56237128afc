"""The prefilter: which rules can match a buffer, in one pass over it.

Every rule declares lower-case keywords; a rule's regular expression runs on a file only
when one of its keywords occurs in it (in any case). Finding the keywords is the one
pass over every byte, so it uses the fastest engine available:

* ``hyperscan`` (PyPI wheels, x86-64): all keywords in one caseless literal database;
  for files (``gated``) also each built-in rule's *gate*: a pattern that matches wherever
  the rule's expression does, compiled in hyperscan's prefilter mode (which may match more
  than the pattern, never less), so a rule whose keyword occurs but whose gate does not
  (``curl`` without ``-u``, ``://`` without ``user:password@``) is not run at all;
* ``re2`` (``google-re2``, PyPI wheels): a caseless ``re2.Set``, one DFA for all keywords;
* otherwise plain Python: ``bytes.lower()`` once, then ``in`` per keyword.

Fastest first; ``bench/secret_scan.py --engine`` compares them on a real image.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from typing import Any

_hs: Any
_re2: Any
try:  # optional: the fastest multi-literal engine
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the machine
    _hs = None
try:  # optional: one DFA for the whole keyword set
    import re2 as _re2  # type: ignore[import-untyped,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - depends on the machine
    _re2 = None

ENGINES = ("hyperscan", "re2", "python")
_UNSET = object()


def available() -> tuple[str, ...]:
    """The engines importable here, fastest first; "python" always is."""
    have = {"hyperscan": _hs is not None, "re2": _re2 is not None, "python": True}
    return tuple(e for e in ENGINES if have[e])


Key = tuple[tuple[bytes, ...], tuple[str, ...]]  # a database's keywords and gates
# Databases made elsewhere (``export``) and loaded here (``load``), by keywords and gates: a
# layer worker is handed the parent's instead of compiling its own (~25 ms each).
_LOADED: dict[Key, Any] = {}
_MAX_LOADED = 8


def _database(keywords: tuple[bytes, ...], gates: tuple[str, ...]) -> Any:
    """``_compiled``, or the same database ``load``ed from another process."""
    loaded = _LOADED.get((keywords, gates))
    return loaded if loaded is not None else _compiled(keywords, gates)


def export(keywords: tuple[bytes, ...], gates: tuple[str, ...]) -> bytes | None:
    """The database of ``keywords`` and ``gates`` (compiled here once) as bytes ``load``
    takes in another process on this machine; None without hyperscan, or when a gate does
    not compile."""
    if _hs is None:
        return None
    db = _database(keywords, gates)
    return None if db is None else bytes(_hs.dumpb(db))


def load(keywords: tuple[bytes, ...], gates: tuple[str, ...], data: bytes) -> bool:
    """Keep the database ``export`` made of ``keywords`` and ``gates`` for this process's
    scans; False (nothing kept: it will be compiled) when it does not load here."""
    if _hs is None:
        return False
    try:
        db = _hs.loadb(data, _hs.HS_MODE_BLOCK)
    except _hs.error:  # another hyperscan version or platform: compile instead
        return False
    if len(_LOADED) >= _MAX_LOADED:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[keywords, gates] = db
    return True


@functools.lru_cache(maxsize=8)
def _compiled(keywords: tuple[bytes, ...], gates: tuple[str, ...]) -> Any:
    """One hyperscan block-mode database: keyword ``i`` is id ``i`` (caseless literal), gate
    ``j`` is id ``len(keywords) + j``; each reported once per scan. None when a gate does not
    compile (then nothing is gated). Compiled at a process's first gated scan (~25 ms) and
    kept: a run whose layers all come from the cache compiles none."""
    assert _hs is not None
    literal = _hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SINGLEMATCH
    approximate = _hs.HS_FLAG_PREFILTER | _hs.HS_FLAG_SINGLEMATCH
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[re.escape(k) for k in keywords] + [g.encode() for g in gates],
                   ids=list(range(len(keywords) + len(gates))),
                   flags=[literal] * len(keywords) + [approximate] * len(gates))
    except _hs.error:
        if not gates:
            raise
        return None
    return db


class Prefilter:
    """``hits(data)`` → indices of the keywords (as given) present in ``data``, any case;
    with ``gated=True`` and hyperscan, also ``len(keywords) + j`` for each of ``gates`` that
    matches somewhere in it (``gating`` tells whether gates are reported at all)."""

    def __init__(self, keywords: Sequence[str], engine: str | None = None,
                 gates: Sequence[str] = ()) -> None:
        self.keywords = tuple(k.lower().encode() for k in keywords)
        self.gates = tuple(gates)
        if engine is None:
            engine = available()[0]
        if engine not in available():
            raise ValueError(f"secret engine {engine!r} is not available here")
        self.engine = engine
        self._local = threading.local()
        self._db: Any = None
        self._gated: Any = _UNSET
        if engine == "hyperscan" and self.keywords:
            self._db = _database(self.keywords, ())
        self._set: Any = None
        if engine == "re2" and self.keywords:
            assert _re2 is not None
            # A Set reports every pattern that matches anywhere (an alternation's findall
            # would let "_password" hide "password").
            rset = _re2.Set.SearchSet(_re2.Options())
            for k in self.keywords:
                rset.Add(b"(?i)" + re.escape(k))
            rset.Compile()
            self._set = rset

    @property
    def gating(self) -> bool:
        """Whether ``hits(data, gated=True)`` reports the gates (hyperscan, and they compile)."""
        return self._gated_db() is not None

    def _gated_db(self) -> Any:
        if self._gated is _UNSET:
            self._gated = (_database(self.keywords, self.gates)
                           if self._db is not None and self.gates else None)
        return self._gated

    def hits(self, data: bytes, *, gated: bool = False) -> set[int]:
        if not self.keywords:
            return set()
        if self._db is not None:
            db = self._gated_db() if gated else None
            return self._hits_hyperscan(data, db if db is not None else self._db)
        if self._set is not None:
            return set(self._set.Match(data) or ())
        lowered = data.lower()
        return {i for i, k in enumerate(self.keywords) if k in lowered}

    def _hits_hyperscan(self, data: bytes, db: Any) -> set[int]:
        assert _hs is not None
        local = self._local
        scratch = getattr(local, "gated" if db is not self._db else "plain", None)
        if scratch is None:  # scratch space is per thread and database
            scratch = _hs.Scratch(db)
            setattr(local, "gated" if db is not self._db else "plain", scratch)
        found: set[int] = set()

        def on_match(id_: int, start: int, end: int, flags: int, ctx: object) -> None:
            found.add(id_)

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        return found
