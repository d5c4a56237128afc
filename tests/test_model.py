from __future__ import annotations

import pytest

from hullcheck.model import RULE_SEVERITIES, Severity
from hullcheck.vulndb.severity import Rating, Score, score


def test_one_severity_ordered_by_rank_not_by_spelling() -> None:
    assert sorted(Severity) == [Severity.UNKNOWN, Severity.NEGLIGIBLE, Severity.LOW,
                                Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL,
                                Severity.MALICIOUS]
    # As strings "high" < "low" and "critical" < "low": the ranks decide.
    assert Severity.LOW < Severity.HIGH and Severity.CRITICAL > Severity.LOW
    assert Severity.HIGH >= Severity.HIGH and not Severity.HIGH > Severity.HIGH
    assert max([Severity.LOW, Severity.MALICIOUS, Severity.CRITICAL]) is Severity.MALICIOUS
    # Listed worst first (tables and summaries), ranks as CEL policies see them.
    assert [(s.value, s.rank) for s in Severity] == [
        ("malicious", 6), ("critical", 5), ("high", 4), ("medium", 3), ("low", 2),
        ("negligible", 1), ("unknown", 0)]


def test_parse_names_the_words() -> None:
    assert Severity.parse("HIGH") is Severity.HIGH
    with pytest.raises(ValueError, match="unknown severity 'huge': one of malicious, critical, "
                                         "high, medium, low, negligible, unknown"):
        Severity.parse("huge")


def test_rules_of_our_own_use_four_words() -> None:
    assert [s.value for s in RULE_SEVERITIES] == ["critical", "high", "medium", "low"]


def test_a_score_is_not_a_severity_and_its_rating_maps_to_one() -> None:
    s = score((("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),))
    assert isinstance(s, Score) and (s.rating, s.score, s.source) == (Rating.CRITICAL, 9.8, "CVSS_V3")
    assert s.rating.severity is Severity.CRITICAL
    assert {r: r.severity for r in Rating} == {
        Rating.CRITICAL: Severity.CRITICAL, Rating.HIGH: Severity.HIGH,
        Rating.MEDIUM: Severity.MEDIUM, Rating.LOW: Severity.LOW,
        Rating.NONE: Severity.NEGLIGIBLE, Rating.UNKNOWN: Severity.UNKNOWN}
