"""Where the database lives: ``--db``, else ``$HULLCHECK_DB``, else the user cache directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

ENV_DB = "HULLCHECK_DB"
DB_NAME = "vuln.db"


def db_path(explicit: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """The database file to use; nothing is created."""
    if explicit:
        return Path(explicit).expanduser()
    value = (os.environ if env is None else env).get(ENV_DB, "")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_cache_dir("hullcheck")) / DB_NAME


def cache_dir(db: Path) -> Path:
    """Where ``update`` keeps raw downloads and their validators, beside the database."""
    return db.with_name(db.name + ".sources")
