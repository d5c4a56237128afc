"""The catalogers, in the order they run. Adding one is one line here."""

from __future__ import annotations

from hullcheck.catalog.apk import ApkCataloger
from hullcheck.catalog.base import Cataloger
from hullcheck.catalog.binary import BinaryVersionCataloger
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.catalog.golang import GoBinaryCataloger
from hullcheck.catalog.java import JavaArchiveCataloger
from hullcheck.catalog.npm import NpmLockCataloger, NpmPackageCataloger
from hullcheck.catalog.python import PythonInstalledCataloger
from hullcheck.catalog.rpm import RpmDbCataloger
from hullcheck.catalog.rust import CargoLockCataloger, RustAuditableCataloger

CATALOGERS: tuple[Cataloger, ...] = (
    DpkgCataloger(),
    ApkCataloger(),
    RpmDbCataloger(),
    PythonInstalledCataloger(),
    NpmPackageCataloger(),
    NpmLockCataloger(),
    GoBinaryCataloger(),
    RustAuditableCataloger(),
    CargoLockCataloger(),
    JavaArchiveCataloger(),
    BinaryVersionCataloger(),
)
