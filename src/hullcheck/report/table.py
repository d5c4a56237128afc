"""Plain-text tables (rich) for terminals."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from hullcheck.model import Inventory, Visibility


def _console(buf: io.StringIO, width: int | None) -> Console:
    return Console(file=buf, width=width or 120, color_system=None, highlight=False)


def inventory_table(inv: Inventory, *, width: int | None = None) -> str:
    """NAME VERSION TYPE LAYER table of an inventory, hidden packages marked, plus a summary."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("NAME", "VERSION", "TYPE", "LAYER", "SOURCE"):
        table.add_column(col, overflow="fold")
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
    console = _console(buf, width)
    console.print(table)
    distro = inv.distro.pretty_name or inv.distro.release if inv.distro else "unknown distro"
    ident = inv.source.manifest_digest or inv.source.config_digest or inv.source.name
    console.print(f"\n{inv.source.name} ({ident}) — {distro}", soft_wrap=True)
    console.print(f"{_n(len(inv.visible), 'package')} visible in "
                  f"{_n(len(inv.layers) or 1, 'layer')}", soft_wrap=True)
    if inv.files_total:
        share = 100 * inv.files_owned / inv.files_total
        console.print(f"{inv.files_owned} of {inv.files_total} files ({share:.0f}%) are accounted "
                      "for by a package", soft_wrap=True)
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
        for u in inv.unknowns[:10]:
            console.print(f"  {u.location.path} (layer {u.location.layer}): {u.reason}", soft_wrap=True)
    return buf.getvalue()


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
