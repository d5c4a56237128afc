from __future__ import annotations

import re

import pytest

from hullcheck.globs import translate


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("/a/**/b", "/a/b", True),
    ("/a/**/b", "/a/x/y/b", True),
    ("/a/*/b", "/a/x/y/b", False),
    ("/a/?.txt", "/a/x.txt", True),
    ("/a/?.txt", "/a/xy.txt", False),
    ("/a.b/**", "/a.b/c/d", True),
    ("/a.b/**", "/axb/c", False),
])
def test_translate(pattern: str, path: str, hit: bool) -> None:
    assert (re.fullmatch(translate(pattern), path) is not None) is hit


def test_without_empty_globstar_dir_double_star_is_plain_any() -> None:
    assert re.fullmatch(translate("r.io/**/base", empty_globstar_dir=False), "r.io/base") is None
    assert re.fullmatch(translate("r.io/**/base", empty_globstar_dir=False), "r.io/x/y/base")
    assert re.fullmatch(translate("r.io/lib/*", empty_globstar_dir=False), "r.io/lib/a/b") is None
