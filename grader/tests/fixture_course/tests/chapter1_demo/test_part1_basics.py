"""Tests of the demo part."""

import numpy as np

from grader.testkit import exercise, expect_close, run

X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])


@exercise("add")
def test_add(impl):
    expect_close(run(impl.add, X.copy()), X + 1)


@exercise("subtract")
def test_subtract(impl):
    expect_close(run(impl.subtract, X.copy()), X - 1)


@exercise("multiply")
def test_multiply(impl):
    expect_close(run(impl.multiply, X.copy()), 3 * X)


@exercise("divide")
def test_divide(impl):
    expect_close(run(impl.divide, X.copy()), X / 4)


@exercise("negate")
def test_negate(impl):
    expect_close(run(impl.negate, X.copy()), -X)


@exercise("square")
def test_square(impl):
    expect_close(run(impl.square, X.copy()), X**2)


@exercise("cube")
def test_cube(impl):
    expect_close(run(impl.cube, X.copy()), X**3)


@exercise("halve")
def test_halve(impl):
    expect_close(run(impl.halve, X.copy()), X / 2)


@exercise("total")
def test_total(impl):
    expect_close(run(impl.total, X.copy()), float(X.sum()))


@exercise("mean")
def test_mean(impl):
    expect_close(run(impl.mean, X.copy()), float(X.mean()))


@exercise("maximum")
def test_maximum(impl):
    expect_close(run(impl.maximum, X.copy()), 4.0)
