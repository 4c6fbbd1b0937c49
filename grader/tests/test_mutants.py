"""The mutation score: mutants of the fixture's references are made and graded, a weak
test lets its mutants survive, and the command reports per exercise and per chapter."""

from __future__ import annotations

import textwrap

from grader.catalog import Exercise
from grader.grade import select
from grader.instructor import mutants
from grader.layout import Part

SOURCE = textwrap.dedent(
    '''
    import numpy as np

    def given(x):
        return x + 1

    def centre(x):
        """Subtract the column means."""
        # BEGIN SOLUTION
        means = x.mean(axis=0, keepdims=True)
        return (x - means).T.T * -1 * -1
        # END SOLUTION
    '''
)


def _descriptions(found: list[mutants.Mutant]) -> set[str]:
    return {m.description.split(": ", 1)[1] for m in found}


def test_each_kind_of_mutation_is_made_inside_solution_blocks_only():
    exercise = Exercise(Part("chapter1_demo", "part1_basics"), "centre")
    found = mutants.mutants(SOURCE, {"centre": exercise})
    kinds = _descriptions(found)
    assert {"Sub -> Add", "Mult -> Div", "mean -> sum", "axis=0 -> axis=1", "dropped keepdims=True"} <= kinds
    assert {
        "dropped a transpose (.T)",
        "dropped a minus sign",
        "constant 1 -> 2",
        "constant 0 -> -1",
    } <= kinds
    assert all(m.exercise is exercise for m in found)
    # `given` is not an exercise: its `x + 1` is never mutated.
    assert all("return x + 1" not in m.diff for m in found)
    for m in found:
        compile(m.source, "mutant", "exec")
        assert m.diff.count("\n-") >= 0 and ("-" in m.diff and "+" in m.diff)


def test_weak_tests_let_mutants_survive_and_strong_ones_kill_them(course):
    chapters = select(course, "chapter1/part1", "add")
    outcomes = mutants.run(course, course / "solutions", chapters, jobs=2, timeout=2)
    # `return x + 1.0`: + -> - and 1.0 is a float (no ±1), so exactly one mutant, and it dies.
    assert [(o.mutant.description.split(": ", 1)[1], o.status) for o in outcomes] == [
        ("Add -> Sub", "killed")
    ]
    tests = course / "tests" / "chapter1_demo" / "test_part1_basics.py"
    tests.write_text(
        tests.read_text().replace("expect_close(run(impl.add, X.copy()), X + 1)", "run(impl.add, X)")
    )
    outcomes = mutants.run(course, course / "solutions", chapters, jobs=1, timeout=2)
    assert [o.status for o in outcomes] == ["survived"]


def _weaken_twice_tests(course):
    """Only test_twice_slow (on ones) still checks values: `2 / x` survives it."""
    tests = course / "tests" / "chapter1_demo" / "test_part2_more.py"
    tests.write_text(
        tests.read_text().replace("expect_close(run(impl.twice, x), 2 * x)", "run(impl.twice, x)")
    )


def test_cli_reports_score_per_chapter_and_survivor_diffs(cli, course):
    _weaken_twice_tests(course)
    code, out, _ = cli("mutants", "chapter1/part2", "-k", "twice", "--jobs", "2", "--timeout", "3")
    assert "twice" in out and "survived" in out
    assert "return 2 * x" in out and "Survivors" in out
    assert "chapter1_demo:" in out and "%" in out
    assert code == 1  # below the 90 % goal


def test_declared_equivalents_leave_the_score_and_stale_ones_are_reported(cli, course):
    _weaken_twice_tests(course)
    (course / "tests" / "chapter1_demo" / mutants.EQUIVALENTS).write_text(
        "# survivors judged equivalent (this one is not: the weakened test lets it through)\n"
        "part2_more/twice | Mult -> Div | return 2 * x => return 2 / x | equal on the ones still tested\n"
        "part2_more/twice | Add -> Sub | return 2 + x => return 2 - x | a line that no longer exists\n"
    )
    code, out, _ = cli("mutants", "chapter1", "-k", "twice", "--jobs", "2", "--timeout", "3")
    assert "1 declared equivalent" in out and "Survivors" not in out
    assert code == 0, out
    code, out, _ = cli("mutants", "chapter1", "--jobs", "2", "--timeout", "3")
    assert "no mutant of this run matches it: part2_more/twice | Add -> Sub | return 2 + x =>" in out


def test_verify_flags_a_malformed_declaration(cli, course):
    declarations = course / "tests" / "chapter1_demo" / mutants.EQUIVALENTS
    declarations.write_text("# ok\npart1_basics/add | Add -> Sub\n")
    code, out, _ = cli("verify", "chapter1/part1", "--timeout", "3")
    assert code == 1 and "equivalent_mutants.txt:2: expected" in out
