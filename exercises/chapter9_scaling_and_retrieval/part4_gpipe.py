# %% [markdown]
# # Chapter 9, part 4: GPipe — a micro-batch pipeline, its bubble, and re-materialisation
#
# Reading: chapters/chapter9_scaling_and_retrieval/part4_gpipe.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part4` grades the file.
#
# A network too large for one accelerator is cut into K consecutive stages, one per
# device. GPipe (Huang et al., 2019) splits each mini-batch into M micro-batches and
# pipelines them: while stage 2 works on micro-batch 0, stage 1 already works on
# micro-batch 1. Here you simulate that schedule tick by tick, measure how much of the
# devices' time is idle (the "bubble"), and count the activation memory each stage holds,
# with and without re-materialisation (recomputing activations during the backward pass).
#
# Conventions: a schedule is an int64 array ops of shape (T, K): ops[t, k] is what stage k
# does at clock tick t: m + 1 for the forward of micro-batch m, −(m + 1) for its backward,
# 0 for idle. Every forward and every backward of one micro-batch on one stage takes one
# tick. Stages are 0 … K−1 (the input enters stage 0), micro-batches 0 … M−1.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Int

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"


def render(ops: Int[np.ndarray, "T K"]) -> str:
    """The schedule as text, one line per stage (stage 0 on top), one column per tick:
    F3 is the forward of micro-batch 3, B3 its backward, .. idle. (Given.)"""
    cell = {0: " ."}
    lines = []
    for k in range(ops.shape[1]):
        row = [cell.get(op, f"F{op - 1}" if op > 0 else f"B{-op - 1}") for op in ops[:, k]]
        lines.append(f"stage {k}: " + " ".join(f"{c:>3}" for c in row))
    return "\n".join(lines)


# %% [markdown]
# ## The schedule


# %%
def gpipe_schedule(K: int, M: int) -> Int[np.ndarray, "T K"]:
    """Simulate GPipe's schedule of K stages and M micro-batches, tick by tick.

    Each stage works through its own list of tasks in order: the forwards of micro-batches
    0, 1, …, M−1, then the backwards of M−1, M−2, …, 0 (the last micro-batch's backward
    first: its activations are the freshest). At each tick t, each stage does its next
    task if it is ready, else idles:
      - the forward of m on stage k > 0 needs the forward of m on stage k−1 done at an
        earlier tick (stage 0 has its input from the start);
      - the backward of m on stage k < K−1 needs the backward of m on stage k+1 done at an
        earlier tick; on the last stage it needs the forward of m there done earlier.
    Results pass from stage to stage between ticks: never within the tick they are made.
    The simulation takes exactly T = 2(M + K − 1) ticks.

    Returns ops (T, K) int64: m + 1 for a forward of m, −(m + 1) for a backward, 0 idle."""
    raise NotImplementedError("gpipe_schedule")


if MAIN:
    check(gpipe_schedule)
    print(render(gpipe_schedule(4, 4)))


# %% [markdown]
# ## The bubble


# %%
def bubble_fraction(ops: Int[np.ndarray, "T K"]) -> float:
    """The fraction of all stage-ticks spent idle: the number of zeros in ops divided by
    T · K, measured from any schedule. A float."""
    raise NotImplementedError("bubble_fraction")


if MAIN:
    check(bubble_fraction)


# %%
def bubble_formula(K: int, M: int) -> float:
    """GPipe's bubble in closed form: (K − 1) / (M + K − 1). A float."""
    raise NotImplementedError("bubble_formula")


if MAIN:
    check(bubble_formula)
    for K_ in (2, 4, 8):
        print(
            f"K = {K_}: bubble measured / formula at M = 1, 4, 16, 64:",
            [
                f"{bubble_fraction(gpipe_schedule(K_, M_)):.3f}/{bubble_formula(K_, M_):.3f}"
                for M_ in (1, 4, 16, 64)
            ],
        )
    Ms = np.array([1, 2, 4, 8, 16, 32, 64])
    print(
        "wrote",
        line_chart(
            {
                f"K = {K_}": (np.log2(Ms), [bubble_fraction(gpipe_schedule(K_, int(m))) for m in Ms])
                for K_ in (2, 4, 8)
            },
            "gpipe_bubble.svg",
            "GPipe's bubble, measured from the schedule",
            "log2 M (micro-batches)",
            "idle fraction",
        ),
    )


# %% [markdown]
# ## Activation memory


# %%
def activation_memory(
    ops: Int[np.ndarray, "T K"], layers_per_stage: int, rematerialise: bool
) -> Int[np.ndarray, "T K"]:
    """The activations each stage holds at each tick of a schedule, in units of one layer's
    output for one micro-batch.

    A micro-batch is in flight on stage k at tick t from the tick of its forward there to
    the tick of its backward there, both included (the backward still reads them).
      - Without re-materialisation a stage keeps every layer's output of each micro-batch
        in flight: layers_per_stage units each.
      - With re-materialisation it keeps only each in-flight micro-batch's input to the
        stage (1 unit each) and, at a tick where it runs a backward, recomputes that
        micro-batch's layers from its input: layers_per_stage more units during that tick.

    Returns memory (T, K) int64. Its maximum over ticks is each stage's peak: under GPipe's
    schedule M · layers_per_stage without, M + layers_per_stage with re-materialisation."""
    raise NotImplementedError("activation_memory")


if MAIN:
    check(activation_memory)
    ops_demo = gpipe_schedule(4, 8)
    for remat in (False, True):
        peak = activation_memory(ops_demo, 6, remat).max(axis=0)
        print(f"K = 4, M = 8, 6 layers a stage, re-materialise {remat}: peak per stage {peak}")
    ticks = np.arange(len(ops_demo))
    print(
        "wrote",
        line_chart(
            {
                "stage 0, keep all": (ticks, activation_memory(ops_demo, 6, False)[:, 0]),
                "stage 0, re-materialise": (ticks, activation_memory(ops_demo, 6, True)[:, 0]),
                "stage 3, keep all": (ticks, activation_memory(ops_demo, 6, False)[:, 3]),
                "stage 3, re-materialise": (ticks, activation_memory(ops_demo, 6, True)[:, 3]),
            },
            "gpipe_memory.svg",
            "Activations held (K = 4, M = 8, 6 layers a stage)",
            "clock tick",
            "layer outputs of one micro-batch",
        ),
    )


# %% [markdown]
# ## One forward, one backward


# %%
def one_f_one_b_schedule(K: int, M: int) -> Int[np.ndarray, "T K"]:
    """Simulate the "one forward, one backward" schedule (PipeDream-flush, used by
    Megatron-LM) under the same rules as gpipe_schedule: one task per stage per tick, each
    task when its stage reaches it in its work list and what it needs was done at an
    earlier tick (forward of m on k needs forward of m on k − 1; backward of m on k needs
    backward of m on k + 1, or on the last stage its own forward), stages visited 0 … K−1.

    Only the work lists differ. Stage k first runs w = min(M, K − k) forwards (F0 … F_{w−1},
    the warm-up), then alternates one backward and one forward, B0 F_w B1 F_{w+1} … until
    the forwards run out, then the remaining backwards; backwards in the order 0, 1, …, M−1.
    It also takes T = 2(M + K − 1) ticks.

    Returns ops (T, K) int64, encoded as in gpipe_schedule."""
    raise NotImplementedError("one_f_one_b_schedule")


if MAIN:
    check(one_f_one_b_schedule)
    print(render(one_f_one_b_schedule(4, 6)))
    for name, schedule in (("GPipe", gpipe_schedule), ("1F1B", one_f_one_b_schedule)):
        ops_k = schedule(4, 8)
        print(
            f"{name:>5}, K = 4, M = 8: bubble {bubble_fraction(ops_k):.3f}, peak per stage without "
            f"re-materialisation {activation_memory(ops_k, 6, False).max(axis=0)}"
        )
