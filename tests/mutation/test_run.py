"""The mutation runner's bookkeeping: which verdicts of an earlier run are tested again."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.mutation import run
from tests.mutation.run import rejudge


@pytest.mark.parametrize(("retry_timeouts", "again"), [
    (False, {"survived", "no_tests"}),
    (True, {"survived", "no_tests", "timeout", "timeout_signal"}),
])
def test_survivors_and_when_asked_timeouts_are_tested_again(
        tmp_path: Path, retry_timeouts: bool, again: set[str]) -> None:
    codes = {"survived": 0, "killed": 1, "no_tests": 33, "timeout": 36, "timeout_signal": -24,
             "not_run": None}
    meta = tmp_path / "mutants" / "src" / "pkg" / "mod.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}), encoding="utf-8")
    rejudge(tmp_path, retry_timeouts=retry_timeouts)
    after = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    assert {name for name, code in after.items() if code is None} == again | {"not_run"}
    assert all(after[name] == codes[name] for name in codes.keys() - again)


@pytest.mark.parametrize("constant", [None, 10.0])
def test_a_timeout_constant_given_goes_to_mutmut_s_configuration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, constant: float | None) -> None:
    monkeypatch.setattr(run, "WORK", tmp_path)
    group = run.Group(name="g", mutate=("src/hullcheck/digest.py",), tests=("tests/test_digest.py",))
    where = run.prepare(group, fresh=False, timeout_constant=constant)
    config = tomllib.loads((where / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    assert config.get("timeout_constant") == constant
    assert config["only_mutate"] == ["src/hullcheck/digest.py"]
    assert config["timeout_multiplier"] == 5.0  # the repository's own settings are kept
