# %% [markdown]
# # Chapter 9, part 3: scaling laws and Chinchilla's compute-optimal split
#
# Reading: chapters/chapter9_scaling_and_retrieval/part3_scaling_laws.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter9/part3` grades the file.
#
# A language model's test loss falls with its size N (parameters) and its data D (training
# tokens) as a power law plus a floor:
#
#     L(N) = a · N^(−α) + c                      (Kaplan et al., 2020)
#     L(N, D) = E + A / N^α + B / D^β            (Hoffmann et al., 2022: "Chinchilla")
#
# Training costs about C ≈ 6 N D floating-point operations, so a compute budget C buys a
# trade: a bigger model on fewer tokens or a smaller one on more. Here you fit both laws to
# generated measurements, recover the parameters they were made with, and split a budget.
#
# Conventions: N, D, L, C are float64 arrays (or floats where the docstring says so);
# logarithms are natural unless a name says log10; every random draw comes from the `rng`
# passed in; no function changes its inputs.

# %%
from __future__ import annotations

import numpy as np
from jaxtyping import Float

from coursedata import line_chart
from grader.check import check

MAIN = __name__ == "__main__"

# Chinchilla's fitted law (Hoffmann et al., 2022, eq. 10): the "true" law of the data below.
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def noisy_power_law(
    N: Float[np.ndarray, " n"], a: float, alpha: float, c: float, noise: float, rng: np.random.Generator
) -> Float[np.ndarray, " n"]:
    """Generated measurements of L(N) = a N^(−α) + c, each multiplied by exp(noise · ε)
    with ε ~ N(0, 1) from one rng.normal call: a run-to-run wobble of about `noise`
    (relative). (Given.)"""
    return (a * N**-alpha + c) * np.exp(noise * rng.normal(size=len(N)))


def joint_law(
    N: Float[np.ndarray, " n"],
    D: Float[np.ndarray, " n"],
    E: float,
    A: float,
    B: float,
    alpha: float,
    beta: float,
) -> Float[np.ndarray, " n"]:
    """L(N, D) = E + A / N^α + B / D^β. (Given.)"""
    return E + A * N**-alpha + B * D**-beta


# %% [markdown]
# ## Fitting L(N) = a N^(−α) + c


# %%
def fit_power_law(
    N: Float[np.ndarray, " n"], L: Float[np.ndarray, " n"], c_grid: Float[np.ndarray, " g"]
) -> tuple[float, float, float]:
    """Fit L ≈ a N^(−α) + c by a grid over c and least squares in log space.

    For each c in c_grid with c < min(L) (skip the others: log(L − c) must exist), fit the
    straight line log(L − c) ≈ log a − α log N by ordinary least squares (intercept and
    slope), and measure its residual sum of squares in log space,
    Σ_i (log(L_i − c) − log a + α log N_i)². Keep the c with the smallest residual (the
    first in c_grid's order on an exact tie). Natural logs.

    Returns (a, alpha, c) as floats: a = exp(intercept), alpha = −slope. The tests compare
    with rtol 1e-6."""
    # BEGIN SOLUTION
    c = c_grid[c_grid < L.min()]
    y = np.log(L[None, :] - c[:, None])  # (g, n): one regression per candidate c
    x = np.log(N) - np.log(N).mean()
    slope = (y * x).sum(axis=1) / (x * x).sum()
    intercept = y.mean(axis=1) - slope * np.log(N).mean()
    rss = ((y - intercept[:, None] - slope[:, None] * np.log(N)) ** 2).sum(axis=1)
    best = int(np.argmin(rss))
    return float(np.exp(intercept[best])), float(-slope[best]), float(c[best])
    # END SOLUTION


if MAIN:
    check(fit_power_law)
    g = np.random.default_rng(0)
    N_demo = np.logspace(5, 11, 25)
    L_demo = noisy_power_law(N_demo, a=300.0, alpha=0.3, c=2.0, noise=0.01, rng=g)
    print("fit (a, alpha, c):", fit_power_law(N_demo, L_demo, np.linspace(0.0, 4.0, 401)))


# %%
def log_log_series(
    N: Float[np.ndarray, " n"], L: Float[np.ndarray, " n"], a: float, alpha: float, c: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The curves of a log-log plot of a fit, as (x, y) pairs of log10 values:

        "measured":       (log10 N, log10 L)
        "fit":            (log10 N, log10(a N^(−α) + c))
        "reducible, fit": (log10 N, log10(a N^(−α)))      a straight line of slope −α
        "reducible, measured": (log10 N, log10(L − c))    only where L > c

    in that order. line_chart has no log axes: you plot the log10 values and say so on the
    axis labels."""
    # BEGIN SOLUTION
    x = np.log10(N)
    above = L > c
    return {
        "measured": (x, np.log10(L)),
        "fit": (x, np.log10(a * N**-alpha + c)),
        "reducible, fit": (x, np.log10(a) - alpha * x),
        "reducible, measured": (x[above], np.log10(L[above] - c)),
    }
    # END SOLUTION


if MAIN:
    check(log_log_series)
    a_fit, alpha_fit, c_fit = fit_power_law(N_demo, L_demo, np.linspace(0.0, 4.0, 401))
    curves = log_log_series(N_demo, L_demo, a_fit, alpha_fit, c_fit)
    print("wrote", line_chart(curves, "scaling_fit.svg", "L(N) = a N^-alpha + c", "log10 N", "log10 loss"))


# %% [markdown]
# ## The joint law L(N, D)


# %%
def fit_joint_law(
    N: Float[np.ndarray, " n"],
    D: Float[np.ndarray, " n"],
    L: Float[np.ndarray, " n"],
    alpha_grid: Float[np.ndarray, " p"],
    beta_grid: Float[np.ndarray, " q"],
) -> dict[str, float]:
    """Fit L ≈ E + A / N^α + B / D^β: for each pair (α, β) of the two grids, the law is
    linear in (E, A, B), so solve that ordinary least-squares problem (columns 1, N^−α,
    D^−β) with np.linalg.lstsq, which also copes with a rank-deficient design (a test has
    N = 1 everywhere, where the normal equations are singular), and measure its residual
    sum of squares Σ_i (L_i − fit_i)² (in L itself, not in log space). Keep the pair with
    the smallest residual (on an exact tie the first, α varying slowest).

    Returns {"E", "A", "B", "alpha", "beta"} as floats. The tests compare with rtol 1e-6."""
    # BEGIN SOLUTION
    best: dict[str, float] = {}
    best_rss = np.inf
    for alpha in alpha_grid:
        for beta in beta_grid:
            X = np.stack([np.ones_like(N), N**-alpha, D**-beta], axis=1)
            coef = np.linalg.lstsq(X, L, rcond=None)[0]
            rss = float(((L - X @ coef) ** 2).sum())
            if rss < best_rss:
                best_rss = rss
                best = {"E": coef[0], "A": coef[1], "B": coef[2], "alpha": alpha, "beta": beta}
    return {k: float(v) for k, v in best.items()}
    # END SOLUTION


if MAIN:
    check(fit_joint_law)
    g = np.random.default_rng(1)
    N_runs = 10 ** g.uniform(7, 10, size=60)
    D_runs = 10 ** g.uniform(8.5, 11.5, size=60)
    L_runs = joint_law(N_runs, D_runs, **CHINCHILLA) + 0.005 * g.normal(size=60)
    fitted = fit_joint_law(N_runs, D_runs, L_runs, np.linspace(0.2, 0.5, 31), np.linspace(0.2, 0.5, 31))
    print("fitted:", {k: round(v, 3) for k, v in fitted.items()})


# %% [markdown]
# ## Chinchilla: splitting a compute budget


# %%
def compute_optimal(
    C: Float[np.ndarray, " m"], E: float, A: float, B: float, alpha: float, beta: float
) -> tuple[Float[np.ndarray, " m"], Float[np.ndarray, " m"]]:
    """The compute-optimal model size and data for each budget C (FLOPs), in closed form:
    minimise L(N, D) = E + A N^(−α) + B D^(−β) subject to C = 6 N D. With
    G = (α A / (β B))^(1 / (α + β)),

        N_opt = G · (C / 6)^(β / (α + β)),    D_opt = C / (6 N_opt) = (C / 6)^(α / (α + β)) / G.

    Returns (N_opt, D_opt), float64 arrays like C. The tests compare with rtol 1e-9."""
    # BEGIN SOLUTION
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    N_opt = G * (C / 6.0) ** (beta / (alpha + beta))
    return N_opt, C / (6.0 * N_opt)
    # END SOLUTION


if MAIN:
    check(compute_optimal)


# %%
def compute_optimal_search(
    C: float, N_grid: Float[np.ndarray, " g"], E: float, A: float, B: float, alpha: float, beta: float
) -> tuple[float, float, float]:
    """The same split by brute force along the curve C = 6 N D: for each N in N_grid, the
    data the budget leaves is D = C / (6 N); evaluate L(N, D) and keep the N with the
    smallest loss (the first on an exact tie).

    Returns (N, D, L) of that point, as floats."""
    # BEGIN SOLUTION
    D_grid = C / (6.0 * N_grid)
    losses = E + A * N_grid**-alpha + B * D_grid**-beta
    best = int(np.argmin(losses))
    return float(N_grid[best]), float(D_grid[best]), float(losses[best])
    # END SOLUTION


if MAIN:
    check(compute_optimal_search)
    budgets = np.logspace(18, 25, 8)
    N_opt, D_opt = compute_optimal(budgets, **CHINCHILLA)
    for C_, n_, d_ in zip(budgets, N_opt, D_opt):
        n_s = compute_optimal_search(C_, np.logspace(6, 14, 4001), **CHINCHILLA)[0]
        print(f"C = {C_:8.1e}: N_opt {n_:9.3e} (search {n_s:9.3e}), D_opt {d_:9.3e}, D/N = {d_ / n_:5.1f}")
    print(
        "wrote",
        line_chart(
            {
                "log10 N_opt": (np.log10(budgets), np.log10(N_opt)),
                "log10 D_opt": (np.log10(budgets), np.log10(D_opt)),
            },
            "chinchilla.svg",
            "Compute-optimal N and D",
            "log10 C (FLOPs)",
            "log10 N_opt, log10 D_opt",
        ),
    )
