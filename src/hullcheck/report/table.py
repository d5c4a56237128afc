"""Plain-text tables for terminals, one function per report type.

Column layout is rich's, imported on first use (about 25 ms): only table output pays it.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import TYPE_CHECKING

from hullcheck.model import Inventory, Severity, Visibility

if TYPE_CHECKING:
    from rich.console import Console

    from hullcheck.base.model import CatalogEntry
    from hullcheck.misconfig import ConfigReport
    from hullcheck.policy import Decision, Violation
    from hullcheck.report.model import BaseCatalog, BaseReport, PolicyReport, ScanReport
    from hullcheck.secrets.model import SecretReport

_SHOWN_ITEMS = 20  # items listed under each violated rule
_SHOWN_UNKNOWNS = 10  # unreadable evidence files listed under an inventory
WIDTH = 140  # the width of a table nobody asked to fit (a file, a pipe)
_GAP = 2  # between columns: one space of padding on each side


class _Grid:
    """A table's rows as text, laid out only when printed: each column gets a width so the
    table fits ``width`` while no word is cut (rich wraps cells at spaces only). A table
    whose longest words do not fit is printed wider than ``width``, never cropped."""

    def __init__(self, *columns: str) -> None:
        self.columns = columns
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def widths(self, width: int) -> list[int]:
        from rich.cells import cell_len

        cells = [[self.columns[i], *(r[i] for r in self.rows)] for i in range(len(self.columns))]
        natural = [max(cell_len(line) for c in col for line in c.split("\n")) for col in cells]
        least = [max((cell_len(w) for c in col for w in c.split()), default=1) for col in cells]
        widths = list(natural)
        excess = sum(widths) + _GAP * (len(widths) - 1) - width
        while excess > 0:  # narrow the widest column that still can be, one cell at a time
            narrowable = [i for i, w in enumerate(widths) if w > least[i]]
            if not narrowable:
                break
            widths[max(narrowable, key=lambda i: widths[i])] -= 1
            excess -= 1
        return widths

    def render(self, width: int) -> str:
        from rich.table import Table
        from rich.text import Text

        widths = self.widths(width)
        t = Table(box=None, pad_edge=False, header_style="bold")
        for name, w in zip(self.columns, widths, strict=True):
            t.add_column(name, width=w, overflow="fold")
        for row in self.rows:
            t.add_row(*(Text(cell) for cell in row))  # cells are data, not rich markup
        buf = io.StringIO()
        _console(buf, sum(widths) + _GAP * (len(widths) - 1)).print(t)
        return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _table(*columns: str) -> _Grid:
    return _Grid(*columns)


def _console(buf: io.StringIO, width: int) -> Console:
    from rich.console import Console

    return Console(file=buf, width=width, color_system=None, highlight=False, markup=False,
                   emoji=False)


def _n(count: int, noun: str, plural: str = "") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


# -- scans -------------------------------------------------------------------------------


def scan(report: ScanReport, *, width: int | None = None) -> str:
    """One section per scanner that ran; the vulnerability section alone is untitled."""
    width = width or WIDTH
    sections: list[tuple[str, str]] = []
    if "vuln" in report.scanners:
        sections.append(("Vulnerabilities", _vulnerabilities(report, width)))
    if report.secrets is not None:
        sections.append(("Secrets (redacted)", secrets(report.secrets, width=width)))
    if report.config is not None:
        sections.append(("Image configuration", config(report.config, width=width)))
    if len(sections) == 1:
        return sections[0][1]
    return "\n".join(f"== {title} ==\n{body.lstrip(chr(10))}" for title, body in sections)


def _vulnerabilities(report: ScanReport, width: int) -> str:
    t = _table("PACKAGE", "VERSION", "TYPE", "VULNERABILITY", "SEVERITY", "STATUS", "FIXED IN",
               "LAYER")
    for f in report.active:
        p = f.package
        sev = f.severity.value + (" (KEV)" if f.kev else "") + ("*" if f.severity_from else "")
        name = p.name if p.visibility is Visibility.VISIBLE else f"{p.name} (hidden)"
        t.add_row(name, p.version, p.type.value, f.id, sev, f.status.value,
                  ", ".join(f.fixed_versions) or "-", "-" if p.layer is None else str(p.layer))
    buf = io.StringIO()
    console = _console(buf, width)
    if t:
        buf.write(t.render(width))
    inv = report.inventory
    counts = Counter(f.severity for f in report.active)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Severity if counts[s])
    console.print(f"\n{inv.source.name}: {_n(len(report.packages), 'package')}, "
                  f"{_n(len(report.active), 'finding')}" + (f" ({summary})" if summary else ""),
                  soft_wrap=True)
    if any(f.severity_from for f in report.active):
        console.print("* severity of an alias advisory: the matched records rate none "
                      "(see -o json 'severityFrom')", soft_wrap=True)
    if inv.hidden:
        console.print(_hidden_line(report), soft_wrap=True)
    suppressed = len(report.findings) - len(report.active)
    if suppressed:
        console.print(f"{_n(suppressed, 'finding')} suppressed by VEX or ignore rules "
                      "(see -o json)", soft_wrap=True)
    if report.skipped:
        console.print(f"{_n(len(report.skipped), 'package or advisory', 'packages or advisories')}"
                      f" could not be evaluated "
                      "(see -o json 'skipped')", soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", soft_wrap=True)
    return buf.getvalue()


def _hidden_line(report: ScanReport) -> str:
    """What the scope says of packages shipped but not visible and their findings."""
    inv, n = report.inventory, report.hidden_findings
    them = "it" if len(inv.hidden) == 1 else "them"
    shipped = (f"{_n(len(inv.hidden), 'package')} shipped but not visible (deleted or replaced "
               f"by a later layer, still extractable from the image)")
    if inv.scope == "all-layers":
        return f"{shipped}: listed, marked (hidden); {_n(n, 'finding')} on {them}"
    return (f"{shipped}: {_n(n, 'finding')} on {them} not listed; --scope all-layers lists "
            "them")


def secrets(report: SecretReport, *, width: int | None = None) -> str:
    from hullcheck.secrets.model import Confidence

    t = _table("RULE", "SEVERITY", "PATH", "LINE", "LAYER", "MATCH")
    # worst first, reported before low-confidence ones; the scanner's order within that
    ordered = sorted(report.findings,
                     key=lambda f: (-f.severity.rank, f.confidence is Confidence.LOW))
    for f in ordered:
        layer = "-" if f.layer is None else str(f.layer.index)
        if not f.visible:
            layer += " (deleted" + ("" if f.deleted_by is None else f" in {f.deleted_by.index}") + ")"
        severity = f.severity.value + (" (low confidence)" if f.confidence is Confidence.LOW
                                       else "")
        t.add_row(f.rule_id, severity, f.path, str(f.line), layer, f.match)
    buf = io.StringIO()
    console = _console(buf, width or WIDTH)
    if t:
        buf.write(t.render(width or WIDTH))
    hidden = sum(1 for f in report.findings if not f.visible)
    low = sum(1 for f in report.findings if f.confidence is Confidence.LOW)
    summary = _n(len(report.findings), "secret")
    if hidden:
        summary += (f", {hidden} in files a later layer deleted or replaced (still extractable "
                    "from the image)")
    if low:
        summary += (f", {low} with low confidence (in a language package's tests, examples or "
                    "documentation)")
    console.print(f"\n{report.source.name}: {summary}", soft_wrap=True)
    s = report.skipped
    console.print(f"scanned {_n(report.files_scanned, 'file')} "
                  f"({_n(report.bytes_scanned, 'byte')}); skipped {s.binary} binary, "
                  f"{s.too_large} too large, {s.allowlisted} allow-listed", soft_wrap=True)
    if s.package_files:
        matches = _n(s.package_matches, "match", "matches")
        console.print(f"not reported: {matches} in "
                      f"{_n(s.package_files, 'package file')} as their OS package installed "
                      "them (the distro's own; --include-package-files reports them)",
                      soft_wrap=True)
    return buf.getvalue()


def config(report: ConfigReport, *, width: int | None = None, max_evidence: int = 5) -> str:
    from hullcheck.misconfig import Status as CheckStatus

    t = _table("CHECK", "SEVERITY", "CIS", "TITLE", "EVIDENCE")
    for r in report.findings:
        ev = list(r.evidence[:max_evidence])
        if len(r.evidence) > max_evidence:
            ev.append(f"... and {len(r.evidence) - max_evidence} more")
        t.add_row(r.id, r.severity.value, r.cis or "-", f"{r.title}\nfix: {r.remediation}",
                  "\n".join(ev))
    buf = io.StringIO()
    console = _console(buf, width or WIDTH)
    if t:
        buf.write(t.render(width or WIDTH))
    passed = sum(1 for r in report.results if r.status is CheckStatus.PASS)
    console.print(f"\n{report.source.name}: {len(report.findings)} failed, {passed} passed, "
                  f"{len(report.results) - len(report.findings) - passed} not applicable",
                  soft_wrap=True)
    return buf.getvalue()


def inventory(inv: Inventory, *, width: int | None = None) -> str:
    """NAME VERSION TYPE LAYER table of an inventory, hidden packages marked, plus a summary."""
    table = _table("NAME", "VERSION", "TYPE", "LAYER", "SOURCE")
    shown = inv.packages if inv.scope == "all-layers" else inv.visible
    for p in shown:
        layer = "-" if p.layer is None else str(p.layer)
        name = p.name if p.visibility is Visibility.VISIBLE else f"{p.name} (hidden)"
        src = ""
        if p.source and (p.source.name, p.source.version) != (p.name, p.version):
            src = p.source.name if p.source.version == p.version else (
                f"{p.source.name} {p.source.version}")
        table.add_row(name, p.version, p.type.value, layer, src)
    buf = io.StringIO()
    console = _console(buf, width or WIDTH)
    buf.write(table.render(width or WIDTH))
    distro = inv.distro.pretty_name or inv.distro.release if inv.distro else "unknown distro"
    ident = inv.source.manifest_digest or inv.source.config_digest or inv.source.name
    console.print(f"\n{inv.source.name} ({ident}) — {distro}", soft_wrap=True)
    console.print(f"{_n(len(inv.visible), 'package')} visible in "
                  f"{_n(len(inv.layers) or 1, 'layer')}", soft_wrap=True)
    if inv.files_total:
        share = 100 * inv.files_owned / inv.files_total
        console.print(f"{inv.files_owned} of {_n(inv.files_total, 'file')} ({share:.0f}%) "
                      f"{'is' if inv.files_owned == 1 else 'are'} accounted for by a package",
                      soft_wrap=True)
    if inv.hidden:
        note = "listed above" if inv.scope == "all-layers" else "use --scope all-layers to list them"
        console.print(
            f"{_n(len(inv.hidden), 'package')} shipped but not visible (deleted or replaced by a later "
            f"layer, still extractable from the image): {note}",
            soft_wrap=True,
        )
    if inv.unknowns:
        console.print(f"{_n(len(inv.unknowns), 'evidence file')} could not be read:",
                      soft_wrap=True)
        for u in inv.unknowns[:_SHOWN_UNKNOWNS]:
            console.print(f"  {u.location.path} (layer {u.location.layer}): {u.reason}", soft_wrap=True)
    return buf.getvalue()


# -- policy decisions --------------------------------------------------------------------


def decision(report: PolicyReport, *, width: int | None = None) -> str:
    d = report.decision
    lines = [f"{d.image.ref}" + (f" ({d.image.digest})" if d.image.digest else ""),
             f"policy {d.policy}: {d.outcome.value.upper()}", ""]
    for v in d.violations:
        lines.append(f"  {v.action.value.upper():4}  {v.rule}: {_without_items(v)}")
        for item in v.items[:_SHOWN_ITEMS]:
            lines.append(f"          - {item}")
        if len(v.items) > _SHOWN_ITEMS:
            lines.append(f"          ... and {len(v.items) - _SHOWN_ITEMS} more (see -o json)")
    if not d.violations:
        lines.append("  no rule violated")
    if d.waived:
        lines.append("")
        lines.append(f"waived ({len(d.waived)}):")
        for w in d.waived:
            what = f"{w.rule}: {w.item}" if w.item else w.rule
            until = f", until {w.expires}" if w.expires else ""
            lines.append(f"  {what} — {w.by}: {w.reason}{until}")
    for e in d.expired_waivers:
        lines.append("")
        lines.append(f"EXPIRED {e.waiver.describe()} at {e.waiver.where}: no longer waives"
                     + (" " + "; ".join(e.would_waive) if e.would_waive else ""))
    for note in d.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def _without_items(v: Violation) -> str:
    """A violation's message without the items it names (``...: A, B and 3 more``): the
    table lists them one a line below it."""
    if not v.items:
        return v.message
    head, named, _ = v.message.partition(f": {v.items[0]}")
    return head if named else v.message


def decision_line(d: Decision) -> str:
    """One line: the outcome and the failing (else warning) rules."""
    if not d.violations:
        return f"{d.image.ref}: pass"
    shown = d.failed or d.violations
    rules = "; ".join(f"{v.rule}: {v.message}" for v in shown)
    return f"{d.image.ref}: {d.outcome.value}: {rules}"


# -- base images -------------------------------------------------------------------------

_IDENTIFIED_BY = {"annotation": "from the manifest annotations", "label": "from the config labels",
                  "layers": "by its layers in the base catalog"}


def base(report: BaseReport, *, width: int | None = None) -> str:
    a = report.assessment
    ident = a.identity
    digest = f" ({a.image.manifest_digest})" if a.image.manifest_digest else ""
    distro = (a.distro.pretty_name or a.distro.release) if a.distro else "unknown (no os-release)"
    lines = [f"image      {a.image.name}{digest}", f"distro     {distro}"]
    if ident.found:
        how = _IDENTIFIED_BY[ident.by.value]
        detail = ("" if ident.layers is None else "; its first layer" if ident.layers == 1
                  else f"; first {ident.layers} layers")
        if ident.layers_match is False:
            detail = "; WARNING: its layers are not this image's first layers"
        lines.append(f"base       {ident.reference} ({how}{detail})")
        lines.extend(f"           same layers: {other}" for other in ident.also)
    else:
        lines.append("base       not identified (no base annotations, no catalog entry matches)")
    if a.trust is not None:
        lines.append(f"trust      {a.trust.state.value}: {a.trust.reason}")
    if a.freshness is not None:
        lines.append(f"freshness  {a.freshness.sentence()}")
    lines.append(f"eol        {a.eol.state.value}: {a.eol.reason}")
    if a.advice is not None:
        lines.append(f"advice     {a.advice.summary()}")
        for f in sorted(a.advice.fixed, key=lambda f: (-f.severity.rank, f.id)):
            lines.append(f"             {f.id:<22} {f.severity.value:<9} {f.package.name} "
                         f"{f.package.version} -> fixed in the new base")
    lines.extend(f"note       {n}" for n in a.notes)
    lines.extend(f"FAIL       {f}" for f in report.failures)
    return "\n".join(lines) + "\n"


def distro_label(e: CatalogEntry) -> str:
    if e.distro is None:
        return "no os-release"
    return e.distro.pretty_name or e.distro.release


def catalog(report: BaseCatalog, *, width: int | None = None) -> str:
    if not report.entries:
        return "the base catalog is empty: add bases with 'hullcheck base add REF...'\n"
    t = _table("BASE", "DIGEST", "CREATED", "DISTRO", "LAYERS")
    for e in report.entries:
        tag = f":{e.tag}" if e.tag else ""
        t.add_row(f"{e.name}{tag}", e.digest[:19], e.created[:10], distro_label(e),
                  str(len(e.diff_ids)))
    return t.render(width or WIDTH)
