from __future__ import annotations

from hullcheck.match.model import Level
from hullcheck.model import Severity


def test_severity_words_and_ranks_are_the_vulnerability_levels() -> None:
    for severity in Severity:
        assert severity.rank == Level(severity.value).rank
