"""Policy limits: a CEL rule has a step budget (checked before it runs, enforced while it
runs), and policy files, key files and their YAML are read under caps, one line per problem."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hullcheck import deadline
from hullcheck.cli.main import main
from hullcheck.errors import DeadlineExceeded
from hullcheck.policy import Outcome, PolicyError, cel, celcost, evaluate, load, loads
from hullcheck.policy.model import Policy
from hullcheck.policy.rules import CelRule
from tests.policy._build import TODAY, evidence, pkg

HEAD = "apiVersion: hullcheck/v1\nkind: Policy\nrules:\n"
THREE_NESTED = ("packages.all(a, packages.all(b, packages.all(c, "
                "a.name != '' && b.name != '' && c.name != '')))")


def cel_rule(rule_id: str, expression: str) -> CelRule:
    """A rule built in code: the load-time cost check is not in the way."""
    return CelRule(id=rule_id, expression=expression, program=cel.compile_expression(expression))


def packages(n: int, licences: int = 1) -> tuple[object, ...]:
    return tuple(pkg(f"p{i}", "1.0", *(f"L{j}" for j in range(licences))) for i in range(n))


# -- CEL: the runtime budget -----------------------------------------------------------------


def test_three_nested_alls_over_300_items_stop_at_the_budget() -> None:
    # 300^3 inner evaluations ran for minutes; the budget stops the rule, the others still run.
    policy = Policy(name="p", rules=(cel_rule("deep", THREE_NESTED),
                                     cel_rule("count", "size(packages) == 300")))
    decision = evaluate(evidence(packages=packages(300)), policy, now=TODAY)
    assert decision.outcome is Outcome.FAIL
    assert [(v.rule, v.message) for v in decision.violations] == [
        ("deep", f"rule deep exceeded its evaluation budget of {cel.STEP_BUDGET:,} steps; "
                 "simplify the expression")]


def test_the_budget_counts_steps_inside_nested_macros() -> None:
    program = cel.compile_expression(THREE_NESTED)
    variables = cel.activation(evidence(packages=packages(300)), TODAY)
    result = cel.run(program, variables, budget=20_000)
    assert result.value is None and result.over_budget
    assert result.steps == 20_001  # the step that went over is where it stopped
    assert result.error == "exceeded its evaluation budget of 20,000 steps"
    small = cel.run(program, cel.activation(evidence(packages=packages(3)), TODAY),
                    budget=20_000)
    assert small.value is True and not small.over_budget and 0 < small.steps <= 20_000


@pytest.mark.parametrize("expression", [
    "packages.all(p, p.visible)",
    "packages.filter(p, p.name.startsWith('p1')).size() > 0",
    "packages.map(p, p.licenses).all(ls, ls.size() == 16)",
    "packages.exists(p, p.licenses.exists(l, l == 'L3'))",
    "[1, 2, 3].map(x, [x, x]).all(y, y.all(z, z > 0))",
    "{'a': 1, 'b': 2}.all(k, severityRank[\"high\"] > 0) && [].all(x, x)",
    "size(vulnerabilities) == 0 || image.ref.endsWith(':1.4')",
])
def test_the_static_estimate_is_the_step_count_on_a_design_size_image(expression: str) -> None:
    # Over an image exactly as large as the estimate assumes, with nothing short-circuiting,
    # the estimate made before running is the count the interpreter makes while running.
    ev = evidence(packages=packages(celcost.EVIDENCE_ITEMS, licences=celcost.FIELD_ITEMS))
    program = cel.compile_expression(expression)
    result = cel.run(program, cel.activation(ev, TODAY))
    assert result.value is True, result.error
    assert celcost.estimate(program.ast).steps == result.steps


def test_a_passed_deadline_stops_the_command_not_just_the_rule() -> None:
    policy = Policy(name="p", rules=(cel_rule("deep", THREE_NESTED),))
    ev = evidence(packages=packages(300))
    with deadline.within(1e-9, "policy check"), pytest.raises(DeadlineExceeded,
                                                              match="evaluating a CEL rule"):
        evaluate(ev, policy, now=TODAY)


# -- CEL: refused at load time -----------------------------------------------------------------


def test_validate_reports_a_rule_whose_cost_cannot_be_bounded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "  - id: fine\n    type: cel\n    expression: >-\n"
                    "      vulnerabilities.all(v, v.aliases.all(a, a != ''))\n"
                    "  - id: deep\n    type: cel\n    expression: \"" + THREE_NESTED + "\"\n")
    assert main(["policy", "validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"hullcheck: error: {path}:10: rules[1].expression: evaluation cost "
                             "cannot be bounded: 53,011,011,011 steps for an image with 1,000 "
                             "packages or findings, over the budget of 1,000,000 (all inside "
                             "all inside all over evidence lists)"), err
    path.write_text(path.read_text().split("  - id: deep")[0])
    assert main(["policy", "validate", str(path)]) == 0


@pytest.mark.parametrize(("expression", "message"), [
    ("packages.all(a, vulnerabilities.exists(v, v.package == a.name))",
     "evaluation cost cannot be bounded"),
    ("[1, 2].all(x, " * 30 + "true" + ")" * 30, "nested too deeply"),
    ("(" * 30 + "true" + ")" * 30, "nested too deeply"),
    (" || ".join(["image.ref == 'a'"] * 2000), "longer than 16,384 characters"),
])
def test_cel_rules_refused_when_loaded(expression: str, message: str) -> None:
    with pytest.raises(PolicyError, match=f"^p.yaml:6: rules\\[0\\].expression: {message}"):
        loads(HEAD + f"  - id: c\n    type: cel\n    expression: \"{expression}\"\n",
              name="p.yaml")


def test_an_expression_as_deep_as_allowed_still_evaluates() -> None:
    # the depth limit leaves cel-python's recursion room to spare
    levels = 0
    expression = "true"
    while celcost.depth(cel.compile_expression(f"({expression})").ast) <= celcost.MAX_DEPTH:
        expression, levels = f"({expression})", levels + 1
    policy = loads(HEAD + f"  - id: c\n    type: cel\n    expression: \"{expression}\"\n")
    assert levels > 20
    assert evaluate(evidence(), policy, now=TODAY).outcome is Outcome.PASS


# -- files and YAML ---------------------------------------------------------------------------


def test_policy_files_are_read_under_a_cap_that_does_not_trust_stat(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^policy file /dev/zero: larger than 4 MiB; refused$"):
        load("/dev/zero")
    fifo = tmp_path / "policy.fifo"
    os.mkfifo(fifo)
    written: list[int] = []

    def feed() -> None:  # an endless writer, stopped by the reader closing the pipe
        try:
            with open(fifo, "wb") as out:
                while True:
                    written.append(out.write(b"#" * 65536))
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed)
    writer.start()
    with pytest.raises(PolicyError, match="larger than 4 MiB; refused"):
        load(fifo)
    writer.join()
    assert sum(written) <= (4 << 20) + (1 << 20)  # the reader stopped at the cap


def test_key_files_named_by_a_policy_are_capped_too(tmp_path: Path) -> None:
    text = HEAD + "  - id: s\n    type: signatures\n    keys:\n      - path: /dev/zero\n"
    with pytest.raises(PolicyError, match=r"^p.yaml:7: rules\[0\].keys\[0\].path: cannot read "
                                          r"public key /dev/zero: larger than 64 KiB; refused$"):
        loads(text, name="p.yaml", base_dir=tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    (HEAD + "  - id: a\n    type: config\n    ids: " + "[" * 5000 + "]" * 5000 + "\n",
     "p.yaml:6: not valid YAML"),
    (HEAD.replace("rules:\n", "") + "metadata: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"b{i}: &b{i + 1} [*{'a' if i == 0 else f'b{i}'}"
               + f", *{'a' if i == 0 else f'b{i}'}" * 9 + "]\n" for i in range(7))
     + "rules: []\n",
     "p.yaml: YAML aliases expand to more than 1,000,000 nodes; refused"),
])
def test_deep_or_exploding_yaml_is_one_line(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        loads(text, name="p.yaml")
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_deep_yaml_exits_2_from_the_cli(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "  - " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["policy", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hullcheck: error: {path}:4: not valid YAML") and "Traceback" not in err
