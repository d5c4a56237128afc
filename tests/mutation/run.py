"""`make mutate`: mutmut over the modules whose bugs are security bugs, one group at a time.

Each group (`[[tool.hullcheck-mutate.group]]` in pyproject.toml) names the files to mutate and
the tests that check them. mutmut runs once per group in its own directory,
`build/mutate/<group>/` (a generated pyproject.toml, `src` and `tests` linked to the
repository's), so a group's stats run and its mutants see only that group's tests; inside it,
mutmut runs each mutant against the tests that reached the mutated function. Results are kept
there: a second run re-tests the survivors and the functions whose code changed (`--fresh`
starts over; `--retry-timeouts` re-tests the timeouts too, which a loaded machine makes of
slow survivors; `--timeout-constant S` adds S seconds to every mutant's allowance, which
mutmut's `timeout_constant` multiplies like the tests' own time: mutmut then re-tests every
timeout itself).

A mutant listed in docs/testing.md's table of equivalent mutants counts as equivalent, not as
survived. The score of a module is killed / (killed + survived), equivalent ones set aside.

    python -m tests.mutation.run [--fresh] [--retry-timeouts] [--timeout-constant S]
                                 [--max-children N] [GROUP ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "mutate"
DOCS = ROOT / "docs" / "testing.md"
MUTMUT = Path(sys.executable).with_name("mutmut")

# Folders some tests read beside tests/ (the example policies, docs, scripts): mutmut copies
# them into mutants/, where the tests run.
ALSO_COPY = ("examples", "docs", "scripts")

# mutmut's exit codes (mutmut.stats.status_by_exit_code), as the score counts them.
KILLED = {1, 3, 37}
SURVIVED = {0}
TIMEOUT = {36, 24, -24, 152, 255}
NO_TESTS = {5, 33}


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    name: str
    mutate: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(slots=True, kw_only=True)
class Score:
    module: str
    counts: Counter[str]
    survivors: list[str]

    @property
    def percent(self) -> str:
        judged = self.counts["killed"] + self.counts["timeout"] + self.counts["survived"]
        if not judged:
            return "-"
        return f"{100 * (self.counts['killed'] + self.counts['timeout']) / judged:.1f}%"


def groups() -> list[Group]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [
        Group(name=g["name"], mutate=tuple(g["mutate"]), tests=tuple(g["tests"]))
        for g in config["tool"]["hullcheck-mutate"]["group"]
    ]


def equivalent() -> set[str]:
    """Mutant names in docs/testing.md's "Equivalent mutants" table (the first column in backticks)."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.find("### Equivalent mutants")
    if start < 0:
        return set()
    section = text[start:].split("\n## ", 1)[0]
    return set(re.findall(r"`(hullcheck\.[\w.]+__mutmut_\d+)`", section))


def prepare(group: Group, *, fresh: bool, retry_timeouts: bool = False,
            timeout_constant: float | None = None) -> Path:
    """The group's directory: links to src/ and tests/, and a pyproject.toml with its selection."""
    where = WORK / group.name
    if fresh and where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", *ALSO_COPY):
        link = where / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    common = dict(config["tool"]["mutmut"])
    if timeout_constant is not None:
        common["timeout_constant"] = timeout_constant
    pytest_options = config["tool"]["pytest"]["ini_options"]
    lines = ["[tool.mutmut]"]
    for key, value in common.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines.append(f"also_copy = {json.dumps(list(ALSO_COPY))}")
    lines.append(f"only_mutate = {json.dumps(list(group.mutate))}")
    lines.append(f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}")
    lines.append("[tool.pytest.ini_options]")
    for key, value in pytest_options.items():
        if key != "testpaths":
            lines.append(f"{key} = {json.dumps(value)}")
    (where / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejudge(where, retry_timeouts=retry_timeouts)
    return where


def rejudge(where: Path, *, retry_timeouts: bool = False) -> None:
    """Survivors of an earlier run are tested again (mutmut keeps every verdict): the tests
    written since may kill them. Timeouts too when asked: under load a mutant whose tests
    merely ran slowly is one."""
    again = SURVIVED | NO_TESTS | (TIMEOUT if retry_timeouts else set())
    for meta in where.glob("mutants/src/**/*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data.get("exit_code_by_key", {})
        for name, code in codes.items():
            if code in again:
                codes[name] = None
        meta.write_text(json.dumps(data, indent=4), encoding="utf-8")


def run(group: Group, *, fresh: bool, max_children: int, retry_timeouts: bool = False,
        timeout_constant: float | None = None) -> int:
    where = prepare(group, fresh=fresh, retry_timeouts=retry_timeouts,
                    timeout_constant=timeout_constant)
    env = dict(os.environ)
    # A test's subprocess (the CLI as a program) runs the unmutated code: mutmut's trampolines
    # only count in the process that forked the test run.
    env["PYTHONPATH"] = str(ROOT / "src")
    log = where / "mutmut.log"
    print(f"== {group.name}: {', '.join(group.mutate)} (mutmut's output: {log})", flush=True)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(max_children)],
            cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    return done.returncode


def scores(group: Group, known: set[str]) -> list[Score]:
    where = WORK / group.name / "mutants"
    result = []
    for meta in sorted(where.glob("src/hullcheck/**/*.py.meta")):
        source = meta.relative_to(where).with_suffix("")
        if not any(source.match(pattern) for pattern in group.mutate):
            continue  # left from an earlier selection of the group's files
        data = json.loads(meta.read_text(encoding="utf-8"))
        module = str(meta.relative_to(where / "src")).removesuffix(".meta")
        score = Score(module=module, counts=Counter(), survivors=[])
        for name, code in data.get("exit_code_by_key", {}).items():
            score.counts[status(name, code, known)] += 1
            if status(name, code, known) == "survived":
                score.survivors.append(name)
        result.append(score)
    return result


def status(name: str, code: int | None, known: set[str]) -> str:
    if code in SURVIVED or code in NO_TESTS:
        # A mutant no test reaches survives as surely as one they miss.
        return "equivalent" if name in known else "survived"
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    return "not run" if code is None else "suspicious"


def table(all_scores: list[Score]) -> str:
    rows = [
        "| module | mutants | killed | timeout | survived | equivalent | not run | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in all_scores:
        total = sum(s.counts.values())
        rows.append(
            f"| `{s.module}` | {total} | {s.counts['killed']} | {s.counts['timeout']} | "
            f"{s.counts['survived']} | {s.counts['equivalent']} | {s.counts['not run']} | "
            f"{s.percent} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("groups", nargs="*", help="groups to run (default: all)")
    parser.add_argument("--fresh", action="store_true", help="discard earlier results")
    parser.add_argument("--report", action="store_true", help="print the table of earlier runs only")
    parser.add_argument("--retry-timeouts", action="store_true",
                        help="test the timeouts of earlier runs again, with the survivors")
    parser.add_argument("--timeout-constant", type=float, default=None, metavar="S",
                        help="mutmut's timeout_constant (default 1 s): more for a loaded machine")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    chosen = [g for g in groups() if not args.groups or g.name in args.groups]
    unknown = set(args.groups) - {g.name for g in chosen}
    if unknown:
        parser.error(f"no such group: {', '.join(sorted(unknown))}")
    failed = []
    if not args.report:
        for group in chosen:
            if run(group, fresh=args.fresh, max_children=args.max_children,
                   retry_timeouts=args.retry_timeouts,
                   timeout_constant=args.timeout_constant) != 0:
                failed.append(group.name)
    known = equivalent()
    all_scores = [s for g in chosen for s in scores(g, known)]
    print(table(all_scores))
    for s in all_scores:
        for name in s.survivors:
            print(f"survived: {name}")
    if failed:
        print(f"mutmut failed in: {', '.join(failed)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
