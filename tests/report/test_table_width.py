"""Tables fit the width they are given (a terminal's) by wrapping cells at spaces, never
inside a word; a table whose words cannot fit is printed wider, never cropped."""

from __future__ import annotations

import pytest

from hullcheck import report
from tests.report import reports


def _table_lines(text: str) -> list[str]:
    """The lines of the first table of a rendered report (up to its first blank line)."""
    return text.split("\n\n", 1)[0].splitlines()


def _cell_words() -> set[str]:
    words = set()
    for r in reports.CONFIG.findings:
        for text in (r.id, r.title, r.remediation, *r.evidence[:5]):
            words.update(text.split())
    return words


@pytest.mark.parametrize("width", [60, 72, 100])
def test_config_table_fits_and_cuts_no_word(width: int) -> None:
    text = report.render(reports.CONFIG, "table", width=width).decode()
    lines = _table_lines(text)
    assert max(len(line) for line in lines) <= width
    assert _cell_words() <= set(text.split())


def test_narrower_than_its_longest_words_it_grows_instead() -> None:
    text = report.render(reports.CONFIG, "table", width=20).decode()
    assert _cell_words() <= set(text.split())  # nothing cut, nothing cropped
    assert max(len(line) for line in _table_lines(text)) > 20


def test_cells_are_text_not_markup() -> None:
    from dataclasses import replace

    odd = replace(reports.SECRETS, findings=tuple(
        replace(f, path="/app/[bold]x[/bold]/key.pem") for f in reports.SECRETS.findings[:1]))
    assert "/app/[bold]x[/bold]/key.pem" in report.render(odd, "table").decode()


def test_secrets_are_listed_worst_first() -> None:
    from dataclasses import replace

    shuffled = replace(reports.SECRETS, findings=tuple(reversed(reports.SECRETS.findings)))
    rows = _table_lines(report.render(shuffled, "table").decode())[1:]
    severities = [row.split()[1] for row in rows if row and not row.startswith(" ")]
    assert severities == ["critical", "high", "medium", "medium"]
