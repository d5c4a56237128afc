"""catalog.license: SPDX expressions where valid, the text otherwise."""

from __future__ import annotations

import pytest

from hullcheck.catalog import license as lic


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
