"""Demo part for the grader's tests: one line each, so that the fixture is about grading."""

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


def add(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """add of x."""
    # BEGIN SOLUTION
    return x + 1.0
    # END SOLUTION


if MAIN:
    check(add)


def subtract(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """subtract of x."""
    # BEGIN SOLUTION
    return x - 1.0
    # END SOLUTION


if MAIN:
    check(subtract)


def multiply(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """multiply of x."""
    # BEGIN SOLUTION
    return x * 3.0
    # END SOLUTION


if MAIN:
    check(multiply)


def divide(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """divide of x."""
    # BEGIN SOLUTION
    return x / 4.0
    # END SOLUTION


if MAIN:
    check(divide)


def negate(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """negate of x."""
    # BEGIN SOLUTION
    return -x
    # END SOLUTION


if MAIN:
    check(negate)


def square(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """square of x."""
    # BEGIN SOLUTION
    return x * x
    # END SOLUTION


if MAIN:
    check(square)


def cube(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """cube of x."""
    # BEGIN SOLUTION
    return x * x * x
    # END SOLUTION


if MAIN:
    check(cube)


def halve(x: Float[np.ndarray, "n m"]) -> Float[np.ndarray, "n m"]:
    """halve of x."""
    # BEGIN SOLUTION
    return 0.5 * x
    # END SOLUTION


if MAIN:
    check(halve)


def total(x: Float[np.ndarray, "n m"]) -> float:
    """total of x."""
    # BEGIN SOLUTION
    return float(x.sum())
    # END SOLUTION


if MAIN:
    check(total)


def mean(x: Float[np.ndarray, "n m"]) -> float:
    """mean of x."""
    # BEGIN SOLUTION
    return float(x.mean())
    # END SOLUTION


if MAIN:
    check(mean)


def maximum(x: Float[np.ndarray, "n m"]) -> float:
    """maximum of x."""
    # BEGIN SOLUTION
    return float(x.max())
    # END SOLUTION


if MAIN:
    check(maximum)
