"""Tests of the second demo part; test_twice_slow has its own, longer time limit."""

import time

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect_close, expect_equal, run

POINTS = {"twice": 2, "Counter": 0.5}  # the other part's exercises weigh 1 each


@exercise("twice")
@pytest.mark.parametrize("n", [2, 5])
def test_twice(impl, n):
    x = np.arange(n, dtype=float)
    expect_close(run(impl.twice, x), 2 * x)


@exercise("twice", timeout=3)
def test_twice_slow(impl):
    time.sleep(1.2)  # longer than the 1 s limit the tests use, shorter than this test's own
    expect_close(run(impl.twice, np.ones(3)), np.full(3, 2.0))


@exercise("Counter")
def test_counter_counts(impl):
    counter = impl.Counter()
    counter.step()
    expect_equal(Call(counter.step(), "Counter().step() twice"), 2)
