"""Second demo part: a file of its own, so that one part's import error spares the other."""

import numpy as np
from jaxtyping import Float


def twice(x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
    """2 x."""
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION


class Counter:
    """Counts calls to step()."""

    def __init__(self) -> None:
        # BEGIN SOLUTION
        self.count = 0
        # END SOLUTION

    def step(self) -> int:
        """Add one and return the new count."""
        # BEGIN SOLUTION
        self.count += 1
        return self.count
        # END SOLUTION
