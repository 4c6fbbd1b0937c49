"""Second demo part: a file of its own, so that one part's import error spares the other."""

import numpy as np
from jaxtyping import Float


def twice(x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
    """2 x."""
    raise NotImplementedError("twice")


class Counter:
    """Counts calls to step()."""

    def __init__(self) -> None:
        raise NotImplementedError("Counter.__init__")

    def step(self) -> int:
        """Add one and return the new count."""
        raise NotImplementedError("Counter.step")
