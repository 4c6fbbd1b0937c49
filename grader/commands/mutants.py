"""`python -m grader mutants [TARGET]`: the mutation score of the tests (grader/instructor/mutants.py)."""

from __future__ import annotations

import argparse
from collections import Counter

from grader import layout
from grader.commands import references
from grader.env import Env, ExitCode
from grader.grade import SelectionError, select
from grader.instructor import mutants

GOAL = 0.9


def run(args: argparse.Namespace, env: Env) -> ExitCode:
    root = env.root
    assert root is not None
    solutions = references(env, "mutants are made from the references")
    if solutions is None:
        return ExitCode.USAGE
    try:
        chapters = select(root, args.target, args.name, impl=solutions)
    except SelectionError as exc:
        env.err(f"grader: {exc}")
        return ExitCode.USAGE
    done = 0

    def progress(outcome: mutants.Outcome) -> None:
        nonlocal done
        done += 1
        if env.terminal:
            env.stderr.write(f"\r{done} mutants graded")
            env.stderr.flush()

    outcomes = mutants.run(
        root,
        solutions,
        chapters,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        progress=progress,
    )
    if env.terminal:
        env.stderr.write("\n")
    by_exercise: dict[str, Counter] = {}
    for o in outcomes:
        by_exercise.setdefault(o.mutant.exercise.id, Counter())[o.status] += 1
    for chapter in chapters:
        env.out(chapter.title)
        width = max(len(e.name) for e in chapter.exercises)
        for exercise in chapter.exercises:
            c = by_exercise.get(exercise.id, Counter())
            env.out(
                f"  {exercise.part.name:<20} {exercise.name:<{width}}  {c['killed']:>3} killed "
                f"{c['timeout']:>2} timeout {c['survived']:>2} survived {c['equivalent']:>2} equivalent"
                f"  of {sum(c.values())}"
            )
    survivors = [o for o in outcomes if o.status == "survived"]
    if survivors and args.show_survivors:
        env.out("\nSurvivors (a missing test, or a mutant that computes the same thing):")
        for o in survivors:
            equivalents = f"tests/{o.mutant.exercise.part.chapter}/{mutants.EQUIVALENTS}"
            env.out(f"\n{o.mutant.exercise.id} — {o.mutant.description}")
            env.out("\n".join(f"    {line}" for line in o.mutant.diff.splitlines()))
            env.out(f"    if it computes the same thing, declare it in {equivalents}:")
            env.out(f"    {o.mutant.key} | <why>")
    env.out("")
    below = False
    for chapter in chapters:
        mine = [o for o in outcomes if o.mutant.exercise.part.chapter == chapter.name]
        count = Counter(o.status for o in mine)
        real = len(mine) - count["equivalent"]
        caught = count["killed"] + count["timeout"]
        score = caught / real if real else 1.0
        below |= score < GOAL
        env.out(
            f"{chapter.name}: {caught}/{real} non-equivalent mutants caught = {100 * score:.1f}% "
            f"({count['timeout']} of them timed out; {count['survived']} survived; "
            f"{count['equivalent']} declared equivalent; {len(mine)} mutants in all)"
        )
        # Stale declarations can only be told apart from unselected ones in a whole-chapter run.
        whole = not args.name and len(chapter.parts) == len(layout.parts(root, chapter.name))
        for key in mutants.stale_equivalents(root, chapter.name, mine) if whole else []:
            env.out(f"  declared equivalent, but no mutant of this run matches it: {key}")
    return ExitCode.NOT_ALL_PASSED if below else ExitCode.OK
