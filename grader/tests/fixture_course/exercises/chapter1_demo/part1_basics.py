"""Demo part for the grader's tests: one line each, so that the fixture is about grading."""

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


def add(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """add of x."""
    raise NotImplementedError("add")


if MAIN:
    check(add)


def subtract(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """subtract of x."""
    raise NotImplementedError("subtract")


if MAIN:
    check(subtract)


def multiply(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """multiply of x."""
    raise NotImplementedError("multiply")


if MAIN:
    check(multiply)


def divide(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """divide of x."""
    raise NotImplementedError("divide")


if MAIN:
    check(divide)


def negate(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """negate of x."""
    raise NotImplementedError("negate")


if MAIN:
    check(negate)


def square(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """square of x."""
    raise NotImplementedError("square")


if MAIN:
    check(square)


def cube(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """cube of x."""
    raise NotImplementedError("cube")


if MAIN:
    check(cube)


def halve(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """halve of x."""
    raise NotImplementedError("halve")


if MAIN:
    check(halve)


def total(x: Float[np.ndarray, "n m"]) -> float:
    """total of x."""
    raise NotImplementedError("total")


if MAIN:
    check(total)


def mean(x: Float[np.ndarray, "n m"]) -> float:
    """mean of x."""
    raise NotImplementedError("mean")


if MAIN:
    check(mean)


def maximum(x: Float[np.ndarray, "n m"]) -> float:
    """maximum of x."""
    raise NotImplementedError("maximum")


if MAIN:
    check(maximum)
