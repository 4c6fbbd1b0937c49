"""-k: exactly the exercise named, a class with its methods, or several by a pattern."""

from __future__ import annotations

import shutil

import pytest

from grader.grade import SelectionError, matches, select

NAMES = ["softmax", "log_softmax", "softplus", "mul", "matmul", "elu", "gelu", "MLP", "train_mlp", "Adam"]


@pytest.mark.parametrize(
    "wanted, chosen",
    [
        ("elu", {"elu"}),  # not gelu
        ("mul", {"mul"}),  # not matmul
        ("MLP", {"MLP"}),  # not train_mlp
        ("mlp", {"MLP"}),  # any case when no name has this one's exact case
        ("Adam.step", {"Adam"}),  # a method belongs to its class's exercise
        ("soft*", {"softmax", "softplus"}),
        ("*softmax", {"softmax", "log_softmax"}),
        ("*MLP*", {"MLP", "train_mlp"}),
        ("softmx", set()),
    ],
)
def test_k_selects_exactly_the_name_or_what_a_pattern_matches(wanted, chosen):
    assert matches(NAMES, wanted) == chosen


def test_a_class_selects_its_methods_when_they_are_exercises():
    names = ["Tensor.backward", "Tensor.zero_grad", "tensor_sum"]
    assert matches(names, "Tensor") == {"Tensor.backward", "Tensor.zero_grad"}
    assert matches(names, "Tensor.backward") == {"Tensor.backward"}


def test_an_unknown_name_is_one_line_listing_the_closest(course):
    with pytest.raises(SelectionError) as caught:
        select(course, "1", "multiplyy")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no exercise named 'multiplyy' in 1; closest: multiply")


def test_cli_k_grades_only_the_named_exercise_and_a_pattern_several(cli):
    import json

    code, out, _ = cli("-k", "counter", "--json", "--impl", "solutions")
    assert code == 0 and [e["name"] for e in json.loads(out)["exercises"]] == ["Counter"]
    code, out, _ = cli("1", "-k", "*e", "--json", "--impl", "solutions")
    names = [e["name"] for e in json.loads(out)["exercises"]]
    assert names == ["divide", "negate", "square", "cube", "halve", "twice"]
    code, _, err = cli("1", "-k", "twic")
    assert code == 2 and "closest: twice" in err and err.count("\n") == 1


def test_a_name_from_another_chapter_says_where_it_is(course):
    shutil.copytree(course / "tests" / "chapter1_demo", course / "tests" / "chapter2_other")
    with pytest.raises(SelectionError, match="in 1/2; it is in chapter1_demo/part1_basics, chapter2_other/"):
        select(course, "1/2", "add")
