"""Tests for chapter 7, part 1: epsilon-greedy, UCB1, Thompson sampling, and regret.

Expected values come from this file: incremental means against np.mean of the rewards
seen; choice frequencies of many calls against the probabilities worked out by hand
(within 5 standard errors); UCB1's choices from its formula written out; Thompson
sampling and whole runs of UCB1 and Thompson sampling replayed with a generator seeded
like the learner's and drawing what the docstrings say. Seeded runs must reach regrets
that held on each of 30 seeds (worst seed in the docs), far below what an agent stuck on
one arm or choosing at random gets.
"""

import math
import tempfile
from pathlib import Path

import numpy as np

from grader.testkit import Call, exercise, expect, expect_close, expect_equal, rng, run

ARMS = np.array([0.3, 0.5, 0.55, 0.7])


def _frequencies(choose, K, n=1500):
    counts = np.zeros(K)
    for _ in range(n):
        counts[choose()] += 1
    return counts / n


def _five_se(p, n=1500):
    return 5 * math.sqrt(max(p * (1 - p), 0.01 * 0.99) / n)


# ------------------------------------------------------------------------------ update_mean


@exercise("update_mean")
def test_update_mean_keeps_the_mean_of_each_arm(impl):
    rewards = [(0, 1.0), (2, 0.0), (0, 0.0), (0, 1.0), (2, 1.0), (1, 0.5), (0, 1.0)]
    Q, N = np.zeros(3), np.zeros(3)
    for i, (arm, r) in enumerate(rewards):
        call = run(impl.update_mean, Q, N, arm, r)
        expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected a tuple (Q, N)")
        Q, N = call.value
        seen = rewards[: i + 1]
        want_N = np.array([sum(a == k for a, _ in seen) for k in range(3)], dtype=float)
        want_Q = np.array([np.mean([r for a, r in seen if a == k]) if want_N[k] else 0.0 for k in range(3)])
        expect_close(Call(N, f"{call}[1], N after {i + 1} rewards"), want_N)
        expect_close(Call(Q, f"{call}[0], Q after {i + 1} rewards"), want_Q)


@exercise("update_mean")
def test_update_mean_divides_by_the_new_count(impl):
    Q, N = np.array([0.5, 0.2]), np.array([2.0, 5.0])
    call = run(impl.update_mean, Q, N, 0, 1.0)
    expect_close(
        Call(call.value[0], f"{call}[0], Q"),
        np.array([0.5 + 0.5 / 3, 0.2]),
        mistakes={
            "divide by the count before adding this reward (N instead of N + 1)": np.array([0.75, 0.2]),
            "add the reward to the sum without dividing": np.array([1.5, 0.2]),
        },
    )


@exercise("update_mean")
def test_update_mean_leaves_the_other_arms_alone(impl):
    Q, N = np.array([0.25, 0.75, 0.5]), np.array([4.0, 4.0, 2.0])
    new_Q, new_N = run(impl.update_mean, Q, N, np.int64(1), 0.0).value  # an arm from np.argmax
    expect_close(Call(new_N, "update_mean(Q, N, arm=np.int64(1), reward=0)[1], N"), np.array([4.0, 5.0, 2.0]))
    expect_close(
        Call(new_Q, "update_mean(Q, N, arm=np.int64(1), reward=0)[0], Q"),
        np.array([0.25, 0.6, 0.5]),
        mistakes={"update every arm": np.array([0.2, 0.6, 1 / 3])},
    )


# --------------------------------------------------------------------------- epsilon_greedy


@exercise("epsilon_greedy")
def test_epsilon_greedy_explores_with_probability_epsilon_and_breaks_ties_at_random(impl):
    Q, g = np.array([1.0, 3.0, 3.0, 0.0]), rng(0)
    first = impl.epsilon_greedy(Q, 0.2, rng(0))
    expect(
        isinstance(first, (int, np.integer)),
        f"epsilon_greedy(Q, 0.2, rng) returned {type(first).__name__}; expected an int",
    )
    freq = _frequencies(lambda: impl.epsilon_greedy(Q, 0.8, g), 4)
    want = np.array([0.2, 0.3, 0.3, 0.2])  # ε/4 each, and the two tied arms share 1 − ε
    expect_close(
        Call(freq, "how often epsilon_greedy(Q=[1, 3, 3, 0], epsilon=0.8, rng) chose each arm in 1500 calls"),
        want,
        rtol=0,
        atol=_five_se(0.3),
        mistakes={
            "break ties by index (np.argmax)": np.array([0.2, 0.5, 0.1, 0.2]),
            "explore only among the arms that are not greedy": np.array([0.4, 0.1, 0.1, 0.4]),
            "explore with probability 1 − epsilon": np.array([0.05, 0.45, 0.45, 0.05]),
        },
    )


@exercise("epsilon_greedy")
def test_greedy_with_all_estimates_equal_still_tries_every_arm(impl):
    g = rng(1)
    freq = _frequencies(lambda: impl.epsilon_greedy(np.zeros(5), 0.0, g), 5)
    expect_close(
        Call(freq, "how often epsilon_greedy(Q=zeros(5), epsilon=0, rng) chose each arm in 1500 calls"),
        np.full(5, 0.2),
        rtol=0,
        atol=_five_se(0.2),
        what="all five arms tie: each is greedy, chosen at random",
        mistakes={"break ties by index, so that greedy play never explores": np.eye(5)[0]},
    )


@exercise("epsilon_greedy")
def test_epsilon_greedy_draws_from_the_rng_it_is_given(impl):
    Q = np.array([0.0, 0.0, 1.0])
    runs = [[impl.epsilon_greedy(Q, 0.5, g) for _ in range(200)] for g in (rng(5), rng(5), rng(6))]
    expect(runs[0] == runs[1], "epsilon_greedy: two generators seeded alike must give the same choices")
    expect(
        runs[0] != runs[2] and len(set(runs[0])) == 3,
        "epsilon_greedy: its choices must come from the rng passed in (draw from it; do not re-seed it)",
    )


# ------------------------------------------------------------------------------------ ucb1


def _ucb(Q, N, c=None, unplayed="first", t_of=None):
    if (N == 0).any() and unplayed == "first":
        return int(np.flatnonzero(N == 0)[0])
    t = N.sum() if t_of is None else t_of(N)
    c = math.sqrt(2.0) if c is None else c
    return int(np.argmax(Q + c * np.sqrt(np.log(t) / np.maximum(N, 1))))


@exercise("ucb1")
def test_ucb1_plays_every_unplayed_arm_first(impl):
    Q, N = np.array([0.9, 0.0, 0.8, 0.0]), np.array([3.0, 0.0, 2.0, 0.0])
    call = run(impl.ucb1, Q, N)
    expect_equal(
        call,
        1,
        what="arms 1 and 3 were never pulled; the lowest goes first",
        mistakes={
            "give unplayed arms no exploration bonus (as if pulled once)": _ucb(Q, N, unplayed="bonus"),
            "take the highest unplayed arm": 3,
        },
    )
    expect(
        isinstance(call.value, (int, np.integer)),
        f"{call} returned {type(call.value).__name__}; expected int",
    )
    Q, N = np.array([0.9, 0.1, 0.5]), np.array([1.0, 0.0, 2.0])
    expect_equal(
        run(impl.ucb1, Q, N),
        1,
        what="arm 1 was never pulled (arm 0 was pulled once: it is not unplayed)",
        mistakes={
            "give unplayed arms no exploration bonus (as if pulled once)": _ucb(Q, N, unplayed="bonus")
        },
    )


@exercise("ucb1")
def test_ucb1_bonus(impl):
    g = rng(7)
    for _ in range(30):
        Q, N = g.random(5), g.integers(1, 30, size=5).astype(float)
        expect_equal(
            run(impl.ucb1, Q, N),
            _ucb(Q, N),
            what=f"argmax Q + sqrt(2) sqrt(ln t / N) with t = {N.sum():g}",
            mistakes={
                "leave out the exploration bonus": int(np.argmax(Q)),
                "forget the square root": int(np.argmax(Q + math.sqrt(2) * np.log(N.sum()) / N)),
                "take ln of the arm's own count instead of the total t": int(
                    np.argmax(Q + math.sqrt(2) * np.sqrt(np.log(N) / N))
                ),
            },
        )


@exercise("ucb1")
def test_ucb1_c_scales_the_bonus(impl):
    Q, N = np.array([0.2, 0.6, 0.5]), np.array([2.0, 40.0, 10.0])
    expect_equal(run(impl.ucb1, Q, N, c=0.0), 1, what="with c = 0 UCB1 is greedy")
    expect_equal(run(impl.ucb1, Q, N, c=10.0), 0, what="with a large c the least-pulled arm wins")
    expect_equal(run(impl.ucb1, Q, N, c=1.0), _ucb(Q, N, c=1.0))


# --------------------------------------------------------------------------- thompson_sample


@exercise("thompson_sample")
def test_thompson_sample_replays_one_beta_draw_per_step(impl):
    g_learner, g_test, h = rng(3), rng(3), rng(4)
    got, want = [], []
    means = []
    for _ in range(40):
        alpha, beta = 1 + h.integers(0, 6, size=4).astype(float), 1 + h.integers(0, 6, size=4).astype(float)
        got.append(impl.thompson_sample(alpha, beta, g_learner))
        want.append(int(np.argmax(g_test.beta(alpha, beta))))
        means.append(int(np.argmax(alpha / (alpha + beta))))
    expect_equal(
        Call(np.array(got, dtype=np.int64), "thompson_sample(alpha, beta, rng) for 40 posteriors, one rng"),
        np.array(want, dtype=np.int64),
        what="argmax of rng.beta(alpha, beta), one call per choice",
        mistakes={"take the posterior mean instead of a sample": np.array(means, dtype=np.int64)},
    )


@exercise("thompson_sample")
def test_thompson_sampling_matches_probabilities(impl):
    # θ0 ~ Beta(2, 1), θ1 ~ Beta(1, 2): P(θ0 > θ1) = ∫∫_{x > y} 2x · 2(1 − y) dx dy = 5/6.
    g = rng(8)
    freq = _frequencies(lambda: impl.thompson_sample(np.array([2.0, 1.0]), np.array([1.0, 2.0]), g), 2)
    expect_close(
        Call(freq, "how often thompson_sample(alpha=[2, 1], beta=[1, 2], rng) chose each arm in 1500 calls"),
        np.array([5 / 6, 1 / 6]),
        rtol=0,
        atol=_five_se(1 / 6),
        mistakes={
            "take the posterior mean instead of a sample": np.array([1.0, 0.0]),
            "swap alpha and beta": np.array([1 / 6, 5 / 6]),
        },
    )


@exercise("thompson_sample")
def test_thompson_sample_draws_from_the_rng_it_is_given(impl):
    alpha, beta = np.ones(6), np.ones(6)
    runs = [[impl.thompson_sample(alpha, beta, g) for _ in range(100)] for g in (rng(12), rng(12), rng(13))]
    expect(
        isinstance(runs[0][0], (int, np.integer)),
        f"thompson_sample returned {type(runs[0][0]).__name__}; expected an int",
    )
    expect(runs[0] == runs[1], "thompson_sample: two generators seeded alike must give the same choices")
    expect(
        runs[0] != runs[2] and len(set(runs[0])) == 6,
        "thompson_sample: with flat Beta(1, 1) posteriors every arm should win sometimes, and the draws "
        "must come from the rng passed in",
    )


# -------------------------------------------------------------------------------- run_bandit


def _replay(means, strategy, steps, seed):
    g = rng(seed)
    K = len(means)
    Q, N, a, b = np.zeros(K), np.zeros(K), np.ones(K), np.ones(K)
    rewards, arms = [], []
    for _ in range(steps):
        arm = _ucb(Q, N) if strategy == "ucb1" else int(np.argmax(g.beta(a, b)))
        r = float(g.random() < means[arm])
        N[arm] += 1
        Q[arm] += (r - Q[arm]) / N[arm]
        a[arm] += r
        b[arm] += 1 - r
        rewards.append(r)
        arms.append(arm)
    return np.array(rewards), np.cumsum(means.max() - means[arms])


@exercise("run_bandit")
def test_run_bandit_replays_ucb1_and_thompson(impl):
    for strategy in ("ucb1", "thompson"):
        call = run(impl.run_bandit, ARMS, strategy, 300, rng(9))
        expect(isinstance(call.value, tuple) and len(call.value) == 2, f"{call}: expected (rewards, regret)")
        rewards, regret = _replay(ARMS, strategy, 300, 9)
        expect_close(
            Call(call.value[0], f"{call}[0], rewards"), rewards, what="choose, then pull, then update"
        )
        expect_close(
            Call(call.value[1], f"{call}[1], regret"),
            regret,
            what="the cumulative sum of max(means) − means[arm]",
            mistakes={
                "count the regret of the rewards received, not of the arms' means": np.cumsum(
                    ARMS.max() - rewards
                ),
                "forget to accumulate the regret": np.diff(regret, prepend=0.0),
            },
        )


@exercise("run_bandit")
def test_epsilon_greedy_run_explores_and_exploits(impl):
    rewards, regret = run(impl.run_bandit, ARMS, "epsilon_greedy", 1000, rng(10), epsilon=0.1).value
    expect(
        len(rewards) == len(regret) == 1000, "run_bandit(..., steps=1000): expected 1000 rewards and regrets"
    )
    # 30 seeds: 14.0 – 89.3; stuck on arm 0 it would be 400, uniformly random 187.5
    expect(
        regret[-1] < 125,
        f"run_bandit(ARMS, 'epsilon_greedy', 1000, rng(10)): regret {regret[-1]:.1f} after 1000 pulls; "
        "epsilon = 0.1 gets below 90 on each of 30 seeds (the test allows 125)",
    )
    expect(np.all(np.diff(regret) >= 0), "run_bandit: the cumulative regret can never decrease")


@exercise("run_bandit")
def test_seeded_runs_reach_low_regret(impl):
    # Worst of seeds 0-29 after 500 pulls: Thompson 42.0 (seed 5), UCB1 56.9 (seed 12); seed 11 gives
    # 14.1 and 52.5 (uniformly random: 93.75).
    for strategy, limit in [("thompson", 50), ("ucb1", 65)]:
        call = run(impl.run_bandit, ARMS, strategy, 500, rng(11))
        expect(
            call.value[1][-1] < limit,
            f"{call}: regret {call.value[1][-1]:.1f} after 500 pulls; {strategy} stays below {limit} "
            "on each of 30 seeds",
        )


# ----------------------------------------------------------------------------- regret_curves


@exercise("regret_curves")
def test_regret_curves_average_seeded_runs(impl):
    call = run(impl.regret_curves, ARMS, 20, 2, seed=20, epsilon=0.2)
    expect(
        isinstance(call.value, dict) and list(call.value) == ["epsilon_greedy", "ucb1", "thompson"],
        f"{call}: expected a dict with keys epsilon_greedy, ucb1, thompson in that order",
    )
    for name in ("epsilon_greedy", "ucb1", "thompson"):
        runs = [impl.run_bandit(ARMS, name, 20, rng(20 + r), epsilon=0.2)[1] for r in range(2)]
        expect_close(
            Call(call.value[name], f"{call}[{name!r}]"),
            np.mean(runs, axis=0),
            what="the mean over runs r of run_bandit(..., np.random.default_rng(seed + r))[1]",
            mistakes={"use the same seed for every run": runs[0]},
        )


@exercise("regret_curves")
def test_regret_curves_draw_as_a_picture(impl):
    import xml.etree.ElementTree as ET

    from coursedata import line_chart

    curves = run(impl.regret_curves, ARMS, 30, 2).value
    with tempfile.TemporaryDirectory() as folder:
        path = line_chart(curves, Path(folder) / "regret.svg", "regret", "pull", "regret")
        paths = ET.parse(path).getroot().findall("{http://www.w3.org/2000/svg}path")
    expect(len(paths) == 3, f"line_chart of regret_curves(...) drew {len(paths)} curves; expected 3")
