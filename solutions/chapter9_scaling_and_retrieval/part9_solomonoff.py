# %% [markdown]
# # Chapter 9, part 9: a toy Solomonoff predictor
#
# Reading: chapters/chapter9_scaling_and_retrieval/part9_solomonoff.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part9` grades the file.
#
# Solomonoff's predictor weighs every program that could have printed what was seen so
# far by 2^(−its length), keeps those that agree with the data, and predicts the next bit
# by their weighted vote. Over all programs of a universal machine it is incomputable;
# here the machine is tiny, so everything can be enumerated:
#
#     a program is a pattern p of n bits (1 ≤ n ≤ max_len); it prints p p p … forever.
#     Its code is n written in unary (n − 1 ones and a zero), then the n bits of p:
#     code length ℓ(p) = 2n bits, a prefix-free code, so Σ_p 2^(−ℓ(p)) ≤ 1.
#
# Conventions: bits are int64 arrays of 0s and 1s; programs are kept in the order
# enumerate_programs gives (by length, then by the pattern read as a binary number).

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"


def bits(text: str) -> Int[np.ndarray, " n"]:
    """'0110' → array([0, 1, 1, 0]). (Given.)"""
    return np.array([int(ch) for ch in text], dtype=np.int64)


# %% [markdown]
# ## The program space


# %%
def enumerate_programs(max_len: int) -> tuple[list[str], Int[np.ndarray, " P"]]:
    """Every pattern of 1 … max_len bits, as strings of '0' and '1': the 2 patterns of one
    bit, then the 4 of two bits, …, each length's patterns in binary counting order
    ('00', '01', '10', '11'). P = 2 + 4 + … + 2^max_len = 2^(max_len+1) − 2 programs.

    Returns (patterns, code_lengths): code_lengths (P,) int64, 2n for a pattern of n bits."""
    # BEGIN SOLUTION
    patterns = [format(value, f"0{n}b") for n in range(1, max_len + 1) for value in range(2**n)]
    return patterns, 2 * np.array([len(p) for p in patterns], dtype=np.int64)
    # END SOLUTION


if MAIN:
    check(enumerate_programs)
    print(enumerate_programs(2))


# %%
def program_outputs(patterns: list[str], n: int) -> Int[np.ndarray, "P n"]:
    """The first n bits each program prints: row i is patterns[i] repeated, cut to n bits
    (bit t of pattern p is p[t mod len(p)]). Returns (P, n) int64."""
    # BEGIN SOLUTION
    t = np.arange(n)
    return np.stack([np.array(list(p), dtype=np.int64)[t % len(p)] for p in patterns])
    # END SOLUTION


if MAIN:
    check(program_outputs)


# %% [markdown]
# ## Posterior and prediction


# %%
def posterior(
    code_lengths: Int[np.ndarray, " P"], outputs: Int[np.ndarray, "P n"], observed: Int[np.ndarray, " t"]
) -> Float[np.ndarray, " P"]:
    """The posterior weight of each program after seeing `observed` (t ≤ n bits, maybe none):
    proportional to 2^(−code_length) for programs whose first t output bits equal
    `observed`, 0 for the others, normalised to sum to 1.

    Code lengths may be long (thousands of bits): 2.0**-2000 underflows to 0, so normalise
    in the exponent (subtract the smallest code length among the consistent programs before
    raising 2 to it). If no program is consistent, raise ValueError. float64; the tests
    compare with rtol 1e-9."""
    # BEGIN SOLUTION
    consistent = (outputs[:, : len(observed)] == observed).all(axis=1)
    if not consistent.any():
        raise ValueError("no program prints the observed bits")
    shortest = code_lengths[consistent].min()
    weights = np.where(consistent, 2.0 ** -(code_lengths - shortest).astype(float), 0.0)
    return weights / weights.sum()
    # END SOLUTION


if MAIN:
    check(posterior)


# %%
def predict_next(
    code_lengths: Int[np.ndarray, " P"], outputs: Int[np.ndarray, "P n"], observed: Int[np.ndarray, " t"]
) -> float:
    """P(the next bit is 1 | observed): the posterior weight of the programs whose output
    bit number len(observed) is 1 (outputs must have more than len(observed) columns).
    A float."""
    # BEGIN SOLUTION
    return float(posterior(code_lengths, outputs, observed) @ outputs[:, len(observed)])
    # END SOLUTION


if MAIN:
    check(predict_next)


# %%
def predictions(sequence: Int[np.ndarray, " T"], max_len: int) -> Float[np.ndarray, " T"]:
    """Run the predictor along a sequence: entry t is P(sequence[t] = 1 | sequence[:t]),
    with your enumerate_programs(max_len), program_outputs over T bits and predict_next.
    Entry 0 is the prior's prediction (nothing seen). float64 (T,)."""
    # BEGIN SOLUTION
    patterns, lengths = enumerate_programs(max_len)
    outputs = program_outputs(patterns, len(sequence))
    return np.array([predict_next(lengths, outputs, sequence[:t]) for t in range(len(sequence))])
    # END SOLUTION


if MAIN:
    check(predictions)
    curves = {}
    for pattern in ("1", "01", "0110", "1110010"):
        seq = bits(pattern * 40)[:40]
        p1 = predictions(seq, 8)
        p_right = np.where(seq == 1, p1, 1 - p1)
        loss = -np.log2(p_right).sum()
        print(
            f"pattern {pattern:>8}: code length {2 * len(pattern):2d} bits, total log loss {loss:5.2f} bits"
        )
        curves[f"pattern {pattern}"] = p_right
    print(
        "wrote",
        line_chart(curves, "solomonoff.svg", "Probability given to the right next bit", "t (bits seen)", "P"),
    )
