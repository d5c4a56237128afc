"""The catalogers, in the order they run. Adding one is one line here; a cataloger of
executables (a ``base.BinaryCataloger``) also reads those found anywhere by content."""

from __future__ import annotations

from hullcheck.catalog.apk import ApkCataloger
from hullcheck.catalog.base import BinaryCataloger, Cataloger
from hullcheck.catalog.binary import BinaryVersionCataloger
from hullcheck.catalog.dotnet import DotnetDepsCataloger
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.catalog.golang import GoBinaryCataloger
from hullcheck.catalog.java import JavaArchiveCataloger
from hullcheck.catalog.javascript_locks import PnpmLockCataloger, YarnLockCataloger
from hullcheck.catalog.npm import NpmLockCataloger, NpmPackageCataloger, NpmProjectCataloger
from hullcheck.catalog.php import ComposerInstalledCataloger, ComposerLockCataloger
from hullcheck.catalog.python import PythonInstalledCataloger, PythonProjectCataloger
from hullcheck.catalog.python_locks import (
    PipfileLockCataloger,
    PoetryLockCataloger,
    RequirementsCataloger,
)
from hullcheck.catalog.rpm import RpmDbCataloger
from hullcheck.catalog.ruby import GemfileLockCataloger, GemspecCataloger
from hullcheck.catalog.rust import CargoLockCataloger, RustAuditableCataloger

CATALOGERS: tuple[Cataloger, ...] = (
    DpkgCataloger(),
    ApkCataloger(),
    RpmDbCataloger(),
    PythonInstalledCataloger(),
    PythonProjectCataloger(),
    PoetryLockCataloger(),
    PipfileLockCataloger(),
    RequirementsCataloger(),
    NpmPackageCataloger(),
    NpmLockCataloger(),
    NpmProjectCataloger(),
    YarnLockCataloger(),
    PnpmLockCataloger(),
    GemspecCataloger(),
    GemfileLockCataloger(),
    ComposerInstalledCataloger(),
    ComposerLockCataloger(),
    DotnetDepsCataloger(),
    GoBinaryCataloger(),
    RustAuditableCataloger(),
    CargoLockCataloger(),
    JavaArchiveCataloger(),
    BinaryVersionCataloger(),
)

# The catalogers the binary sink (catalog.streaming) hands executables found by content.
BINARY_CATALOGERS: tuple[BinaryCataloger, ...] = tuple(
    c for c in CATALOGERS if isinstance(c, BinaryCataloger))
