"""Differential tests against the reference tools on this machine: dpkg, rpm, packaging and
npm's node-semver. Pairs are generated deterministically (fixed seeds) with shared prefixes
so that the interesting cases (``~``, ``^``, pre-releases, epochs, padding) come up."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from hullcheck.versions import compare, is_valid

# ---------------------------------------------------------------- generators


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _dpkg_version(rng: random.Random) -> str:
    upstream = str(rng.randint(0, 12))
    for _ in range(rng.randint(0, 3)):
        upstream += _pick(rng, ".", ".", "+", "~", "") + _pick(
            rng, str(rng.randint(0, 20)), "a", "b", "rc1", "dfsg", "git20230101", "0"
        )
    if rng.random() < 0.2:
        upstream += _pick(rng, "~", "~~", "+", ".")
    if rng.random() < 0.3:
        upstream += _pick(rng, "~rc1", "~beta2", "+really1.0", "+dfsg")
    v = upstream
    if rng.random() < 0.7:
        v += "-" + _pick(rng, "1", "2", "1ubuntu1", "1+deb12u1", "1~deb11u1", "0", "00", "10", "1.1")
    if rng.random() < 0.15:
        v = f"{rng.randint(0, 3)}:{v}"
    return v


def _rpm_field(rng: random.Random) -> str:
    out = str(rng.randint(0, 12))
    for _ in range(rng.randint(0, 4)):
        out += _pick(rng, ".", ".", "_", "+", "~", "^", "", "-x") + _pick(
            rng, str(rng.randint(0, 30)), "a", "b", "rc", "el9", "git1", "0", "01", "Z", ""
        )
    return out.replace("-", "")


def _rpm_version(rng: random.Random) -> str:
    v = _rpm_field(rng)
    if rng.random() < 0.8:
        v += "-" + _pick(rng, "1", "2", "1.el9", "1.el9_2", "0.1.rc1", "3.fc38", "1^git", "1~pre")
    if rng.random() < 0.2:
        v = f"{rng.randint(0, 3)}:{v}"
    return v


def _semver_version(rng: random.Random) -> str:
    v = ".".join(_pick(rng, "0", "1", "2", "10") for _ in range(3))
    if rng.random() < 0.05:
        v = _pick(rng, "01.2.3", "1.02.3", "9007199254740991.0.0", "9007199254740992.0.0")
    if rng.random() < 0.05:
        v = _pick(rng, "1.2", "1", "1.2.3.4", "=1.2.3", "V1.2.3")
    if rng.random() < 0.5:
        ids = [
            _pick(
                rng,
                "alpha",
                "beta",
                "rc",
                "0",
                "1",
                "2",
                "11",
                "x-y",
                "RC",
                "a1",
                "1a",
                "01"[: 1 + (rng.random() < 0.05)],
            )
            for _ in range(rng.randint(1, 3))
        ]
        v += "-" + ".".join(ids)
    if rng.random() < 0.2:
        v += "+" + _pick(rng, "build.1", "sha.abc", "001", "x")
    if rng.random() < 0.2:
        v = "v" + v
    return v


def _pairs(gen, n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool = [gen(rng) for _ in range(max(40, n // 4))]
    pairs = []
    for _ in range(n):
        a = rng.choice(pool)
        b = rng.choice(pool) if rng.random() < 0.7 else gen(rng)
        pairs.append((a, b))
    return pairs


# ---------------------------------------------------------------- dpkg


def test_dpkg_matches_dpkg_compare_versions() -> None:
    pairs = [(a, b) for a, b in _pairs(_dpkg_version, 300, seed=1) if is_valid("dpkg", a)]
    pairs = [(a, b) for a, b in pairs if is_valid("dpkg", b)]
    assert len(pairs) >= 250
    mismatches = []
    for a, b in pairs:
        lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode
        if lt == 0:
            want = -1
        else:
            eq = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], check=False)
            want = 0 if eq.returncode == 0 else 1
        if compare("dpkg", a, b) != want:
            mismatches.append((a, b, want))
    assert not mismatches, mismatches[:20]


# ---------------------------------------------------------------- rpm


def _lua_str(s: str) -> str:
    assert "]==]" not in s
    return f"[==[{s}]==]"


def _rpm_eval(lua: str, tmp_path: Path) -> list[str]:
    """Run Lua statements that append results to ``out`` inside one rpm process."""
    script = tmp_path / "cmp.lua"
    script.write_text(f"local out = {{}}\n{lua}\nprint(table.concat(out, ' '))\n", "utf-8")
    out = subprocess.run(
        ["rpm", "--eval", f'%{{lua: dofile("{script}")}}'],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def test_rpm_matches_rpm_ver(tmp_path: Path) -> None:
    """Full EVRs against rpm's own ``rpm.ver`` objects (rpmverCmp)."""
    pairs = _pairs(_rpm_version, 2000, seed=2)
    # rpmverCmp ignores a release that only one side has; our order (missing < any) differs
    # there by design, so those pairs are compared with both releases present only.
    pairs = [(a, b) for a, b in pairs if ("-" in a.split(":")[-1]) == ("-" in b.split(":")[-1])]
    lines = [
        f"do local a, b = rpm.ver({_lua_str(a)}), rpm.ver({_lua_str(b)}); "
        "out[#out + 1] = (a < b) and -1 or ((a == b) and 0 or 1) end"
        for a, b in pairs
    ]
    got = _rpm_eval("\n".join(lines), tmp_path)
    assert len(got) == len(pairs)
    mismatches = [
        (a, b, int(w)) for (a, b), w in zip(pairs, got, strict=True) if compare("rpm", a, b) != int(w)
    ]
    assert not mismatches, mismatches[:20]


def test_rpm_vercmp_matches_rpm(tmp_path: Path) -> None:
    """Bare version fields against ``rpm.vercmp`` (rpmvercmp itself)."""
    rng = random.Random(3)
    pool = [_rpm_field(rng) for _ in range(400)]
    pairs = [(rng.choice(pool), rng.choice(pool)) for _ in range(2000)]
    lines = [f"out[#out + 1] = rpm.vercmp({_lua_str(a)}, {_lua_str(b)})" for a, b in pairs]
    got = _rpm_eval("\n".join(lines), tmp_path)
    assert len(got) == len(pairs)
    # No epoch and no release in these fields, so the EVR comparison is plain rpmvercmp.
    mismatches = [
        (a, b, int(w))
        for (a, b), w in zip(pairs, got, strict=True)
        if compare("rpm", a, b) != max(-1, min(1, int(w)))
    ]
    assert not mismatches, mismatches[:20]


# ---------------------------------------------------------------- pep440


def test_pep440_matches_packaging() -> None:
    rng = random.Random(4)
    parts = ["1", "1.0", "1.0.0", "2!1.0", "1.0a1", "1.0b2", "1.0rc1", "1.0.post1", "1.0.dev3",
             "1.0a1.dev1", "1.0+local.1", "1.0+local.a", "1.0-1", "1.0c1", "0.9"]  # fmt: skip
    for _ in range(500):
        a, b = rng.choice(parts), rng.choice(parts)
        va, vb = Version(a), Version(b)
        assert compare("pep440", a, b) == (va > vb) - (va < vb), (a, b)


# ---------------------------------------------------------------- npm semver


@pytest.fixture(scope="session")
def node_semver(request: pytest.FixtureRequest) -> Path:
    """npm's ``semver`` package, installed once into the pytest cache (needs the registry)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the node-semver differential test")
    root = Path(request.config.cache.mkdir("npm-semver"))
    pkg = root / "node_modules" / "semver"
    if not (pkg / "package.json").exists():
        proc = subprocess.run(
            ["npm", "install", "--prefix", str(root), "--no-audit", "--no-fund", "semver@7"],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            pytest.fail(f"npm install semver failed (offline?): {proc.stderr.strip()[-500:]}")
    return pkg


_NODE = r"""
const semver = require(process.argv[1]);
const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const valid = v => { try { new semver.SemVer(v); return true; } catch (e) { return false; } };
console.log(JSON.stringify(pairs.map(([a, b]) => {
  const va = valid(a), vb = valid(b);
  return [va, vb, va && vb ? semver.compare(a, b) : null];
})));
"""


def test_semver_matches_node_semver(node_semver: Path) -> None:
    pairs = _pairs(_semver_version, 3000, seed=5)
    proc = subprocess.run(
        ["node", "-e", _NODE, str(node_semver)],
        input=json.dumps(pairs),
        check=True,
        capture_output=True,
        text=True,
    )
    results = json.loads(proc.stdout)
    assert len(results) == len(pairs)
    compared = 0
    mismatches: list[tuple[object, ...]] = []
    for (a, b), (va, vb, want) in zip(pairs, results, strict=True):
        if is_valid("semver", a) != va or is_valid("semver", b) != vb:
            mismatches.append(("validity", a, va, b, vb))
            continue
        if want is not None:
            compared += 1
            if compare("semver", a, b) != want:
                mismatches.append(("order", a, b, want))
    assert not mismatches, mismatches[:20]
    assert compared >= 1000
