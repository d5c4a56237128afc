"""The pages' report types: risk reasons worst first and in words, the trend's days (gaps
carried from the day before), and the inline SVG chart (no style attribute a strict CSP
would block, every line labelled with its severity word, figures for screen readers)."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from hullcheck.report.fleet import ImageRisk, RiskReason, TrendPoint, trend
from hullcheck.report.svg import trend_chart

DAY = dt.date(2025, 3, 10)


def test_risk_reasons_come_worst_first_in_words() -> None:
    risk = ImageRisk.of(digest="sha256:" + "a" * 64, repository="r", tags=("1",),
                        status="scanned", counts={"high": 2, "low": 1}, kev=1, fixable=2,
                        base_stale=True, policy_failed=True)
    assert [r.kind for r in risk.reasons] == [RiskReason.KEV, RiskReason.FIXABLE,
                                              RiskReason.POLICY, RiskReason.BASE_STALE]
    assert [r.text for r in risk.reasons] == [
        "1 known exploited (CISA KEV)", "2 critical/high with a fix", "policy failing",
        "base image stale"]
    assert risk.worst == "high"
    assert ImageRisk.of(digest="d", repository="r", tags=(), status="scanned",
                        counts={}).reasons == ()


def test_trend_has_one_point_a_day_and_carries_quiet_days() -> None:
    rows = [(DAY - dt.timedelta(days=40), "high", 9),  # before the window: carried into it
            (DAY - dt.timedelta(days=2), "critical", 1),
            (DAY, "high", 4), (DAY, "critical", 0)]
    points = trend(rows, days=5, today=DAY)
    assert [p.day for p in points] == [DAY - dt.timedelta(days=i) for i in range(4, -1, -1)]
    assert [dict(p.open) for p in points] == [
        {"high": 9}, {"high": 9}, {"high": 9, "critical": 1}, {"high": 9, "critical": 1},
        {"high": 4}]
    assert points[-1].total == 4


def test_the_chart_is_well_formed_labelled_and_free_of_inline_style() -> None:
    points = (TrendPoint(day=DAY - dt.timedelta(days=1), open={"critical": 3, "unknown": 1}),
              TrendPoint(day=DAY, open={"critical": 2, "high": 7}))
    svg = trend_chart(points)
    root = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    title, desc = root.find(f"{ns}title"), root.find(f"{ns}desc")
    assert title is not None and title.text == "Open findings per day"
    assert desc is not None and desc.text is not None
    assert "2025-03-09" in desc.text and "critical 2, high 7, unknown 0" in desc.text
    labels = [t.text for t in root.iter(f"{ns}text") if "label" in t.get("class", "")]
    assert labels == ["critical 2", "high 7", "unknown 0"]
    lines = [p.get("class") for p in root.iter(f"{ns}polyline")]
    assert lines == ["line sev-critical", "line sev-high", "line sev-unknown"]
    dashes = {p.get("stroke-dasharray") for p in root.iter(f"{ns}polyline")}
    assert len(dashes) == 3  # told apart without colour
    assert not re.search(r"\sstyle=", svg) and "<script" not in svg
    empty = trend_chart((TrendPoint(day=DAY),))
    assert "no open findings in this period" in empty
