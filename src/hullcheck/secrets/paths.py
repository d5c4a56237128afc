"""Where a match is likely an example: the tests, examples and documentation that language
packages ship (``site-packages/*/tests/``, a README, a TypeScript declaration's doc comment).

Only inside a language package's folder: an application's own ``tests/`` folder, or a key
dropped anywhere else, keeps full confidence.
"""

from __future__ import annotations

import re

# Folders language packages are installed in (their packages below them), and Python's and
# Node's own libraries as Debian installs them.
_PACKAGE_ROOTS = re.compile(
    r"/(?:site-packages|dist-packages|node_modules)/"
    r"|^/usr/(?:local/)?lib/python[23](?:\.\d+)?/"
    r"|^/usr/(?:share|lib)/nodejs/"
    r"|/gems/"
    r"|/go/pkg/mod/"
    r"|/\.cargo/registry/"
    r"|/vendor/")
_EXAMPLE_DIRS = frozenset({
    "test", "tests", "testing", "__tests__", "spec", "specs", "example", "examples", "sample",
    "samples", "demo", "demos", "doc", "docs", "fixtures", "testdata", "test_data"})
_DOC_FILE = re.compile(r"(?i)(?:readme|changelog|changes|history|news)(?:\.[a-z0-9]+)?\Z"
                       r"|.*\.(?:md|markdown|rst|d\.ts|d\.mts|d\.cts)\Z")
_TEST_FILE = re.compile(r"test_.*\.py\Z|.*_test\.py\Z|.*\.(?:test|spec)\.[cm]?[jt]sx?\Z")


def example_reason(path: str) -> str:
    """Why a match in ``path`` is likely an example; "" when it is not in a language
    package's tests, examples or documentation."""
    ends = [m.end() for m in _PACKAGE_ROOTS.finditer(path)]
    if not ends:
        return ""
    inside = path[ends[-1]:].split("/")  # below the innermost package folder
    name = inside[-1]
    if any(part.lower() in _EXAMPLE_DIRS for part in inside[:-1]) or _TEST_FILE.match(name):
        return "in a language package's tests or examples"
    if _DOC_FILE.match(name):
        return "in a language package's documentation or type declarations"
    return ""
