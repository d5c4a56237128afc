"""The catalogers, in the order they run. Adding one is one line here."""

from __future__ import annotations

from hullcheck.catalog.base import Cataloger
from hullcheck.catalog.rpm import RpmDbCataloger

CATALOGERS: tuple[Cataloger, ...] = (
    RpmDbCataloger(),
)
