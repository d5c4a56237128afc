"""An advisory's score from CVSS vectors (via the ``cvss`` library) or a database's own word.

Preference: CVSS v3.x, then v4.0, then v2, then ``database_specific.severity``. A vector
that does not parse is skipped, never guessed; with nothing usable the rating is UNKNOWN.
A :class:`Score` is the advisory's statement; ``Rating.severity`` turns its word into the
one severity vocabulary findings use (``model.Severity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import cvss
from cvss.exceptions import CVSSError

from hullcheck.model import Severity


class Rating(StrEnum):
    """The CVSS qualitative rating scale (as the database stores it), plus UNKNOWN."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    NONE = "NONE"
    UNKNOWN = "UNKNOWN"

    @property
    def severity(self) -> Severity:
        """The finding severity of this rating: a CVSS score of 0.0 (NONE) is negligible."""
        return _SEVERITY[self]


_SEVERITY = {Rating.CRITICAL: Severity.CRITICAL, Rating.HIGH: Severity.HIGH,
             Rating.MEDIUM: Severity.MEDIUM, Rating.LOW: Severity.LOW,
             Rating.NONE: Severity.NEGLIGIBLE, Rating.UNKNOWN: Severity.UNKNOWN}


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    """How an advisory is scored: its rating and, from a CVSS vector, the base score."""

    rating: Rating
    score: float | None = None  # CVSS base score
    source: str = ""  # "CVSS_V3", "CVSS_V4", "CVSS_V2", "database", "" (none)
    vector: str = ""


UNKNOWN = Score(rating=Rating.UNKNOWN)

_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
_WORDS = {
    "critical": Rating.CRITICAL,
    "high": Rating.HIGH,
    "important": Rating.HIGH,
    "moderate": Rating.MEDIUM,
    "medium": Rating.MEDIUM,
    "low": Rating.LOW,
    "negligible": Rating.LOW,
    "none": Rating.NONE,
}


def rating_for(base: float) -> Rating:
    """The CVSS v3/v4 qualitative rating of a base score."""
    if base == 0:
        return Rating.NONE
    if base < 4.0:
        return Rating.LOW
    if base < 7.0:
        return Rating.MEDIUM
    if base < 9.0:
        return Rating.HIGH
    return Rating.CRITICAL


@lru_cache(maxsize=8192)
def cvss_base(kind: str, vector: str) -> float | None:
    """Base score of a vector, or None when it does not parse."""
    try:
        if kind == "CVSS_V3":
            return float(cvss.CVSS3(vector).base_score)
        if kind == "CVSS_V4":
            return float(cvss.CVSS4(vector).base_score)
        if kind == "CVSS_V2":
            return float(cvss.CVSS2(vector.removeprefix("CVSS:2.0/")).base_score)
    except (CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def score(severities: tuple[tuple[str, str], ...], database_severity: str = "") -> Score:
    by_type = dict(severities)
    for kind in _PREFERENCE:
        vector = by_type.get(kind)
        if not vector:
            continue
        base = cvss_base(kind, vector)
        if base is not None:
            rating = rating_for(base)
            if kind == "CVSS_V2" and rating is Rating.CRITICAL:
                rating = Rating.HIGH  # v2 has no "critical"
            return Score(rating=rating, score=base, source=kind, vector=vector)
    word = _WORDS.get(database_severity.strip().lower())
    if word is not None:
        return Score(rating=word, source="database")
    return UNKNOWN
