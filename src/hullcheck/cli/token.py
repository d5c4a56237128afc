"""hullcheck token create|list|revoke --data-dir DIR [--database-url URL] — the monitoring
service's API tokens (stored hashed in its database; a new token is shown once)."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import io
import json
import sys
from pathlib import Path

from hullcheck import fleet
from hullcheck.cli.common import add_output_options, outputs, write_outputs
from hullcheck.errors import UsageError
from hullcheck.fleet.model import TokenInfo

FORMATS = ("table", "json")


def add_database_options(p: argparse.ArgumentParser) -> None:
    """``--data-dir DIR`` (the embedded SQLite store in DIR) and ``--database-url URL``
    (PostgreSQL, shared by every node), as ``serve monitor`` takes them."""
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="the service's data directory (its SQLite database: DIR/fleet.db)")
    p.add_argument("--database-url", metavar="URL",
                   help="the service's database, e.g. postgresql://USER@HOST/DB (default: "
                        "SQLite in --data-dir)")


def database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    if args.data_dir is None:
        raise UsageError("say where the service keeps its data: --data-dir DIR or "
                         "--database-url URL")
    return fleet.data_dir_url(args.data_dir)


def actor() -> str:
    """Who the audit log names for a command run on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a minimal container
        return "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="manage the monitoring service's API tokens",
                       description="Create, list and revoke the API tokens of 'hullcheck serve "
                                   "monitor'. Tokens are stored as SHA-256 hashes; a new one is "
                                   "printed once. Every change is in the audit log.")
    tsub = p.add_subparsers(dest="token_command", metavar="COMMAND")
    tsub.required = True
    c = tsub.add_parser("create", help="create a token and print it (once)")
    c.add_argument("--name", required=True, help="who or what uses it (the audit log names it)")
    c.add_argument("--scope", required=True, choices=[s.value for s in fleet.Scope],
                   help="read: look; write: also send images, SBOMs, events, triage; admin: "
                        "also update advisories and manage dead letters")
    c.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print only the token")
    add_database_options(c)
    c.set_defaults(func=run_create)
    ls = tsub.add_parser("list", help="list the tokens (never the tokens themselves)")
    add_database_options(ls)
    add_output_options(ls, FORMATS)
    ls.set_defaults(func=run_list)
    r = tsub.add_parser("revoke", help="revoke a token: it stops working at once")
    r.add_argument("--name", required=True, help="the token's name, as 'token list' shows it")
    r.add_argument("--reason", default="", help="why (kept in the audit log)")
    r.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print nothing")
    add_database_options(r)
    r.set_defaults(func=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    with fleet.open(database_url(args)) as store:
        info, token = store.create_token(args.name, fleet.Scope(args.scope), actor=actor())
    if not args.quiet:
        print(f"hullcheck: created {info.scope.value} token {info.name!r}; it is shown only "
              "now, so store it (e.g. HULLCHECK_TOKEN)", file=sys.stderr)
    print(token)
    return 0


def _row(info: TokenInfo) -> dict[str, object]:
    return {"name": info.name, "scope": info.scope.value,
            "createdAt": info.created_at.isoformat(),
            "lastUsedAt": info.last_used_at.isoformat() if info.last_used_at else None,
            "revokedAt": info.revoked_at.isoformat() if info.revoked_at else None}


def run_list(args: argparse.Namespace) -> int:
    with fleet.open(database_url(args)) as store:
        tokens = store.list_tokens()
    outs = outputs(args)

    def render(fmt: str, width: int | None) -> bytes:
        if fmt == "json":
            return json.dumps({"tokens": [_row(t) for t in tokens]}, indent=2).encode() + b"\n"
        return _table([(t.name, t.scope.value, _when(t.created_at), _when(t.last_used_at),
                        _when(t.revoked_at)) for t in tokens]).encode()

    write_outputs(outs, render)
    return 0


def _when(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def _table(rows: list[tuple[str, ...]]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None, highlight=False).print(table)
    return buf.getvalue()


def run_revoke(args: argparse.Namespace) -> int:
    with fleet.open(database_url(args)) as store:
        if not store.revoke_token(args.name, actor=actor(), reason=args.reason):
            raise UsageError(f"no active token named {args.name!r}",
                             hint="'hullcheck token list' shows the tokens")
    if not args.quiet:
        print(f"hullcheck: revoked token {args.name!r}", file=sys.stderr)
    return 0
