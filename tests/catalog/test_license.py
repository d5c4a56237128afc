"""catalog.license: SPDX expressions where valid, the text otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck import catalog, deadline, filetree
from hullcheck.catalog import dpkg
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env
from hullcheck.catalog.dpkg import DpkgCataloger, debian_license
from hullcheck.catalog.rpm import RpmDbCataloger
from hullcheck.catalog.supplier import supplier
from hullcheck.errors import DeadlineExceeded
from hullcheck.filetree import FileEntry, Kind
from hullcheck.image import open_image
from hullcheck.model import ImageSource, Package, Supplier, SupplierKind
from hullcheck.policy.licenses import parse
from tests.fixtures.debootstrap import debootstrap_rootfs
from tests.fixtures.images import inventory_of, tree_of
from tests.fixtures.rootfs import read
from tests.fixtures.rpm import build as rpm_build


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mit", "MIT"),
        ("Apache-2.0 OR mit", "Apache-2.0 OR MIT"),
        ("(LGPL-2.1-only or GPL-3.0-or-later)", "LGPL-2.1-only OR GPL-3.0-or-later"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0",
         "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ("Apache 2.0", "Apache-2.0"),  # a well-known name for an SPDX id
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("MIT License", "MIT"),
        ("BSD", "BSD"),  # says too little: kept as written
        ("Some Custom Licence v1", "Some Custom Licence v1"),
        ("  BSD   License ", "BSD License"),
        ("x" * 5000, "x" * lic.MAX_TEXT),
        ("", None),
        ("   ", None),
    ],
)
def test_normalise(text: str, expected: str | None) -> None:
    assert lic.normalise(text) == expected


def test_spdx_rejects_and_never_raises() -> None:
    assert lic.spdx("MIT AND") is None
    assert lic.spdx("((((") is None
    assert lic.spdx("MIT " * 5000) is None  # over MAX_EXPRESSION: not parsed at all
    assert lic.spdx("\x00\xff") is None


def test_normalise_all_and_words() -> None:
    assert lic.normalise_all(["MIT", None, 3, "mit", "Ruby"]) == ("MIT", "Ruby")
    assert lic.expression_or_words("MIT BSD-2-Clause") == ("MIT", "BSD-2-Clause")
    assert lic.expression_or_words("MIT AND BSD-2-Clause") == ("MIT AND BSD-2-Clause",)
    assert lic.expression_or_words("GPL-2.0-only custom") == ("GPL-2.0-only", "custom")
    assert lic.expression_or_words("") == ()


@pytest.mark.parametrize(
    "text",
    ["GPL", "LGPL", "BSD", "LicenseRef-MIT-TC", "GPL 2.0", "Apache License"],
)
def test_licence_library_aliases_are_not_taken_for_spdx_ids(text: str) -> None:
    """license-expression alone reads plain "GPL" as GPL-1.0-or-later and
    "LicenseRef-MIT-TC" as MIT; neither is what the package declared."""
    assert lic.spdx(text) is None
    assert lic.normalise(text) == text


def test_deprecated_spdx_forms_and_exceptions_still_normalise() -> None:
    assert lic.spdx("GPL-2.0+") == "GPL-2.0-or-later"
    assert lic.spdx("lgpl-2.1+ and gpl-2.0+") == "LGPL-2.1-or-later AND GPL-2.0-or-later"
    assert (lic.spdx("GPL-2.0-or-later WITH Classpath-exception-2.0")
            == "GPL-2.0-or-later WITH Classpath-exception-2.0")


# ---------------------------------------------------------------------------------------
# Licences detected in licence text; DEP-5 expressions; suppliers

BOOKWORM = "dpkg/bookworm"
GPL2_LATER_NOTICE = (
    "This program is free software; you can redistribute it and/or modify\n"
    "it under the terms of the GNU General Public License as published by\n"
    "the Free Software Foundation; either version 2 of the License, or\n"
    "(at your option) any later version.\n"
)


def test_detect_reads_the_notice_of_a_real_free_form_copyright_file() -> None:
    """base-files' copyright file (Debian 12) is prose plus the GPL's notice, no DEP-5."""
    found = lic.detect(read(BOOKWORM, "usr/share/doc/base-files/copyright").decode())
    assert found.ids == ("GPL-2.0-or-later",)  # "or (at your option) any later version"
    assert 0.3 < found.confidence < 0.6  # the rest is who wrote it and where the GPL lives


def test_detect_names_nothing_in_prose_and_never_guesses() -> None:
    assert lic.detect("This package was put together by someone, from her own sources.") \
        == lic.Detection(ids=(), confidence=0.0)
    assert lic.detect("") == lic.Detection(ids=(), confidence=0.0)
    assert lic.detect("\x00\xff" * 5000).ids == ()


def test_detect_reads_only_the_first_max_detect_characters() -> None:
    filler = ("words " * (lic.MAX_DETECT // 6 + 1))[:lic.MAX_DETECT]
    assert lic.detect(filler + GPL2_LATER_NOTICE).ids == ()  # past the limit: not read
    assert lic.detect(GPL2_LATER_NOTICE + filler).ids == ("GPL-2.0-or-later",)


def test_detected_ids_unknown_to_the_spdx_table_become_licenseref_ids() -> None:
    """licensecheck knows ids license-expression's SPDX table does not (newer SPDX ids, its
    own): written as LicenseRef- ids, valid in any SPDX document."""
    assert lic._spdx_or_ref("MIT") == "MIT"
    assert lic._spdx_or_ref("CommonsClause") == "LicenseRef-CommonsClause"


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        # DEP-5: a comma before and/or splits first; "and" binds tighter than "or"
        ("GPL-1+ or Artistic, and Expat", "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT"),
        ("REGCOMP, and GPL-1+ or Artistic",
         "LicenseRef-REGCOMP AND (GPL-1.0-or-later OR Artistic-1.0-Perl)"),
        ("GPL-2+ or BSD-3-clause and MIT", "GPL-2.0-or-later OR BSD-3-Clause AND MIT"),
        ("BSD-3-clause and/or GPL-3+", "BSD-3-Clause OR GPL-3.0-or-later"),  # findutils
        ("public-domain", "LicenseRef-public-domain"),
        ("BSD-tcp_wrappers", "LicenseRef-BSD-tcp-wrappers"),  # "_" is no idstring character
        ("GPL-3+ with Bison-2.2 exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("GPL-2+ or", "LicenseRef-GPL-2-or"),  # a name missing: the line is one name
    ],
)
def test_dep5_expressions_become_spdx_expressions_that_parse(short: str, expected: str) -> None:
    assert debian_license(short) == expected
    parse(expected)  # what the policy's licence rules read: no "cannot be read"


def test_a_long_licence_name_gets_a_short_stable_distinct_ref() -> None:
    a, b = debian_license("x" * 2000), debian_license("x" * 1999 + "y")
    assert a is not None and b is not None and a != b
    assert a.startswith("LicenseRef-xxx") and len(a) <= len("LicenseRef-") + 64 + 9


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Santiago Vila <sanvila@debian.org>",
         Supplier(name="Santiago Vila", email="sanvila@debian.org", kind=SupplierKind.PERSON)),
        ('"Josip Rodin" <joy-packages@debian.org>',
         Supplier(name="Josip Rodin", email="joy-packages@debian.org", kind=SupplierKind.PERSON)),
        ("GNU Libc Maintainers <debian-glibc@lists.debian.org>",
         Supplier(name="GNU Libc Maintainers", email="debian-glibc@lists.debian.org",
                  kind=SupplierKind.ORGANIZATION)),
        ("Debian Release Team <packages@release.debian.org>",  # a team by its name
         Supplier(name="Debian Release Team", email="packages@release.debian.org",
                  kind=SupplierKind.ORGANIZATION)),
        ("Natanael Copa <ncopa@alpinelinux.org>",
         Supplier(name="Natanael Copa", email="ncopa@alpinelinux.org", kind=SupplierKind.PERSON)),
        ("ncopa@alpinelinux.org",
         Supplier(name="ncopa@alpinelinux.org", email="ncopa@alpinelinux.org",
                  kind=SupplierKind.PERSON)),
        ("Red Hat, Inc. <http://bugzilla.redhat.com/bugzilla>",  # rpm's Packager: no address
         Supplier(name="Red Hat, Inc. <http://bugzilla.redhat.com/bugzilla>",
                  kind=SupplierKind.PERSON)),
        ("", None),
        ("(none)", None),
    ],
)
def test_supplier_fields(field: str, expected: Supplier | None) -> None:
    assert supplier(field) == expected


def test_supplier_kind_given_and_length_bounded() -> None:
    assert supplier("Fedora Project", SupplierKind.ORGANIZATION) == Supplier(
        name="Fedora Project", kind=SupplierKind.ORGANIZATION)
    long = supplier("x" * 5000)
    assert long is not None and len(long.name) == 1000


def dpkg_stanza(name: str, maintainer: str = "Someone <someone@example.org>") -> str:
    return (f"Package: {name}\nStatus: install ok installed\nMaintainer: {maintainer}\n"
            f"Architecture: amd64\nVersion: 1.0\nDescription: {name}\n")


def test_free_form_copyright_files_give_detected_licences_dep5_declared(tmp_path: Path) -> None:
    """Real copyright files of Debian 12: base-files (free form) and bash (DEP-5)."""
    status = dpkg_stanza("base-files", "Santiago Vila <sanvila@debian.org>") + "\n" \
        + dpkg_stanza("bash")
    files: dict[str, bytes | str] = {
        "var/lib/dpkg/status": status,
        "usr/share/doc/base-files/copyright": read(BOOKWORM, "usr/share/doc/base-files/copyright"),
        "usr/share/doc/bash/copyright": read(BOOKWORM, "usr/share/doc/bash/copyright"),
    }
    inv = inventory_of(tmp_path, (DpkgCataloger(),), files)
    pkgs = {p.name: p for p in inv.packages}
    base, bash = pkgs["base-files"], pkgs["bash"]
    assert base.licenses == ("GPL-2.0-or-later",)
    (d,) = base.detected_licenses
    assert (d.expression, d.path) == ("GPL-2.0-or-later", "/usr/share/doc/base-files/copyright")
    assert d.confidence is not None and 0.3 < d.confidence < 0.6
    assert base.declared_licenses == ()
    assert "/usr/share/doc/base-files/copyright" in [loc.path for loc in base.locations]
    assert base.supplier == Supplier(name="Santiago Vila", email="sanvila@debian.org",
                                     kind=SupplierKind.PERSON)
    assert bash.detected_licenses == () and bash.declared_licenses == bash.licenses
    assert "GPL-3.0-or-later" in bash.licenses


def test_licence_detection_is_bounded_per_database(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile image's copyright files cannot make detection read without end: past the
    budget, packages keep no detected licence and one Unknown counts them. Identical texts
    are read once."""
    monkeypatch.setattr(dpkg, "MAX_DETECT_TOTAL", 3 * len(GPL2_LATER_NOTICE) * 100)
    layer: dict[str, str] = {}
    names = [f"p{i}" for i in range(6)]
    for i, name in enumerate(names):
        # distinct texts, each the notice 100 times (p5 repeats p0's text: read once)
        layer[f"usr/share/doc/{name}/copyright"] = f"{i % 5}\n" + GPL2_LATER_NOTICE * 100
    layer["var/lib/dpkg/status"] = "\n".join(dpkg_stanza(n) for n in names)
    calls: list[int] = []
    real = lic.detect

    def counting(text: str) -> lic.Detection:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(lic, "detect", counting)
    inv = inventory_of(tmp_path, (DpkgCataloger(),), layer)
    licensed = sorted(p.name for p in inv.packages if p.licenses)
    assert licensed == ["p0", "p1", "p5"]  # p1, p2... each a new text; p5 is p0's
    assert len(calls) == 2  # p0 and p1 read (p2 would pass the budget); p5 not re-read
    (u,) = inv.unknowns
    assert u.reason == (f"licences of 3 package(s) not detected: their copyright files are "
                        f"past {dpkg.MAX_DETECT_TOTAL} characters of free-form text in all")


@pytest.mark.slow
def test_debootstrap_tree_licences_and_suppliers_beat_trivy() -> None:
    """The real debootstrap bookworm tree (88 packages). Measured on it: Trivy 0.59.1 gives 85
    packages a licence (libcrypt1, libgcc-s1 and libstdc++6 none) and all 88 a supplier;
    hullcheck gave 74 and none before licences were detected in free-form copyright files,
    87 and 88 after (libcrypt1's file states its licences in prose only)."""
    root = debootstrap_rootfs()
    image = open_image(f"dir:{root}")
    cats = (DpkgCataloger(),)
    inv = catalog.run(filetree.build(image, catalog.globs_for(cats)), image.source,
                      catalogers=cats)
    debs = {p.name: p for p in inv.packages}
    assert len(debs) > 80 and inv.unknowns == ()
    unlicensed = sorted(n for n, p in debs.items() if not p.licenses)
    assert unlicensed == ["libcrypt1"]
    assert all(p.supplier is not None and p.supplier.name for p in debs.values())

    # free form: detected, with a confidence, from the file they were read in
    base = debs["base-files"]
    assert base.licenses == ("GPL-2.0-or-later",) and base.declared_licenses == ()
    assert "LGPL-2.1-or-later" in debs["libc6"].licenses
    assert debs["libselinux1"].licenses == ("libselinux-1.0",)  # NSA's public-domain notice
    # the gcc runtime libraries' doc directories are symlinks to gcc-12-base's
    gcc = debs["gcc-12-base"].licenses
    assert "GPL-3.0-or-later" in gcc
    assert debs["libgcc-s1"].licenses == gcc == debs["libstdc++6"].licenses
    detected = [d for p in debs.values() for d in p.detected_licenses]
    assert detected and all(d.confidence is not None and 0 < d.confidence <= 1 for d in detected)
    assert {d.path for d in base.detected_licenses} == {"/usr/share/doc/base-files/copyright"}

    # DEP-5: declared; a name no SPDX id covers is a LicenseRef- id; and every licence parses
    bash = debs["bash"]
    assert bash.detected_licenses == () and "GPL-3.0-or-later" in bash.licenses
    assert "LicenseRef-public-domain" in debs["dash"].licenses
    for p in debs.values():
        for expression in p.licenses:
            parse(expression)

    # suppliers: people and teams, from Maintainer
    assert base.supplier == Supplier(name="Santiago Vila", email="sanvila@debian.org",
                                     kind=SupplierKind.PERSON)
    assert debs["libc6"].supplier == Supplier(
        name="GNU Libc Maintainers", email="debian-glibc@lists.debian.org",
        kind=SupplierKind.ORGANIZATION)


def test_licence_detection_gives_up_at_the_commands_deadline(tmp_path: Path) -> None:
    """Past the --timeout, detection stops with the command's one-line error, not later."""
    files: dict[str, bytes | str] = {
        "var/lib/dpkg/status": dpkg_stanza("base-files"),
        "usr/share/doc/base-files/copyright": read(BOOKWORM, "usr/share/doc/base-files/copyright"),
    }
    tree = tree_of(tmp_path, files, globs=catalog.globs_for((DpkgCataloger(),)))
    # a deadline of 0 s has passed at once: only where detection checks it can it be seen
    with deadline.within(0.0, "sbom test"), pytest.raises(DeadlineExceeded, match=(
            r"^sbom test: gave up after .* while detecting licences in Debian copyright files$")):
        catalog.run(tree, ImageSource(kind="oci", name="test"), catalogers=(DpkgCataloger(),))


def test_rpm_supplier_is_the_vendor_else_the_packager() -> None:
    """Real header blobs in a real NDB database: VENDOR wins; without one, PACKAGER ("Name
    <address>", as Rocky's "Release Engineering <...>"); an organisation either way."""
    both = rpm_build.package_header("a", t1011=(6, "Rocky Enterprise Software Foundation"),
                                    t1015=(6, "Release Engineering <infrastructure@rockylinux.org>"))
    packager = rpm_build.package_header(
        "b", t1015=(6, "Release Engineering <infrastructure@rockylinux.org>"))
    entry = FileEntry("/var/lib/rpm/Packages.db", Kind.FILE, 0, 0o644, 0, "",
                      rpm_build.make_ndb([both, packager]))
    found = RpmDbCataloger().parse(entry, None, Env(distro=None))  # type: ignore[arg-type]
    pkgs = {p.name: p for p in found if isinstance(p, Package)}
    assert pkgs["a"].supplier == Supplier(name="Rocky Enterprise Software Foundation",
                                          kind=SupplierKind.ORGANIZATION)
    assert pkgs["b"].supplier == Supplier(name="Release Engineering",
                                          email="infrastructure@rockylinux.org",
                                          kind=SupplierKind.ORGANIZATION)


def test_the_switches_set_their_variable_in_the_block_and_restore_it_after() -> None:
    """``unread``, ``answers_from`` and ``detections_in`` are one ``switched``: the value
    holds in the block, nested blocks restore the outer one, an exception restores too."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("switch-test", default="out")
    with lic.switched(var, "a"):
        assert var.get() == "a"
        with lic.switched(var, "b"):
            assert var.get() == "b"
        assert var.get() == "a"
        with pytest.raises(KeyError), lic.switched(var, "c"):
            raise KeyError
        assert var.get() == "a"
    assert var.get() == "out"
    text = "Copyright 2020 A\n\nPermission is hereby granted, free of charge, to any person"
    with lic.unread():
        assert lic.detect(text) == lic.Detection(ids=(), confidence=0.0)
        assert lic.remembered("dep5", text, lambda _: ("MIT",)) == ()
    assert lic.remembered("dep5", text, lambda _: ("MIT",)) == ("MIT",)


def test_a_recurring_licence_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifier names the same few licences in text after text, npm packages say MIT
    thousands of times: ``spdx`` answers a text it has seen without the library's parser."""
    from hullcheck import licenses

    parsed: list[str] = []
    real = licenses.validate

    def counting(text: str) -> object:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(licenses, "validate", counting)
    lic.spdx.cache_clear()
    assert [lic.spdx(t) for t in ("gpl-2.0+ OR mit", "gpl-2.0+ OR mit", "GPL", "GPL")] == [
        "GPL-2.0-or-later OR MIT", "GPL-2.0-or-later OR MIT", None, None]
    assert lic.normalise("gpl-2.0+ or mit") == "GPL-2.0-or-later OR MIT"
    assert parsed == ["gpl-2.0+ OR mit", "gpl-2.0+ or mit"]
