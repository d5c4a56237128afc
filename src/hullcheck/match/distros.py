"""The few rules a distro needs beyond OSV's range evaluation (``ecosystem.DISTROS`` says
which distro has which).

RPM module streams (Red Hat, Rocky Linux, AlmaLinux): a package built inside a module
stream (release ``...module+el8.5.0+10613+59a13ec4``; its header's MODULARITYLABEL, e.g.
``nodejs:14:8070020230306170042:bd1311ed``) is updated through that stream only. So a
record whose fix is a module build applies to module builds, a record whose fix is not
to packages outside modules; and where the record names its streams (``rpmmod``, see
``vulndb/distros.py``) and the installed package's label names its own, it applies only
when they agree (nodejs:16's fix says nothing about nodejs:14, whose versions are all
lower; python39's says nothing of python38's numpy). A module build whose header carries
no label is not excluded on a guess.
"""

from __future__ import annotations

import functools

from packageurl import PackageURL

from hullcheck.model import Package
from hullcheck.vulndb.distros import MODULE_BUILD
from hullcheck.vulndb.model import Affected

MODULARITY_LABEL = "modularitylabel"  # the Package.extras key the rpm cataloger sets


def installed_stream(pkg: Package) -> str:
    """"name:stream" of the module stream an RPM was built in ("" when none is recorded)."""
    label = next((v for k, v in pkg.extras if k == MODULARITY_LABEL), "")
    name, _, rest = label.partition(":")
    stream = rest.partition(":")[0]
    return f"{name}:{stream}" if name and stream else ""


def record_streams(a: Affected) -> tuple[str, ...]:
    """The "name:stream" module streams an affected entry's purl names (``rpmmod``)."""
    return _purl_streams(a.purl) if "rpmmod=" in a.purl else ()


@functools.lru_cache(maxsize=4096)
def _purl_streams(purl: str) -> tuple[str, ...]:
    try:
        qualifiers = PackageURL.from_string(purl).qualifiers
    except ValueError:
        return ()
    value = qualifiers.get("rpmmod", "") if isinstance(qualifiers, dict) else ""
    out = []
    for item in value.split(","):
        name, _, rest = item.partition(":")
        stream = rest.partition(":")[0]  # Red Hat writes name:stream:version:context
        if name and stream:
            out.append(f"{name}:{stream}")
    return tuple(out)


def module_rule_applies(pkg: Package, version: str, a: Affected) -> bool:
    """Whether an affected entry of a modular distro speaks of this installed package
    (``version``: the one compared, the source version when searched by source)."""
    stream = installed_stream(pkg)
    modular = bool(stream) or bool(MODULE_BUILD.search(version))
    fixed = a.fixed_versions
    if fixed and not any(bool(MODULE_BUILD.search(f)) == modular for f in fixed):
        return False
    named = record_streams(a)
    return not (stream and named and stream not in named)
