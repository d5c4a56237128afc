"""The mutation runner's bookkeeping: which verdicts of an earlier run are tested again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
