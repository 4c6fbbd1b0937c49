# %% [markdown]
# # Chapter 8, part 8: relation networks on a sort-of-CLEVR of shapes as vectors
#
# Reading: chapters/chapter8_memory_and_generative/part8_relation_networks.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter8/part8` grades the file.
#
# A relation network (Santoro et al., 2017) answers a question q about a set of objects
# o_1 ... o_K by looking at every ordered pair:
#
#     RN(O, q) = f_phi( sum_{i, j} g_theta(o_i, o_j, q) )
#
# Conventions: batch first; a scene is objects (N, K, F) with F = 10 features per object
# (colour one-hot 6, position x, y in [0, 1], shape one-hot 2: square, circle), a
# question is q (N, 10) (the colour asked about, one-hot 6, then the question type,
# one-hot 4), an answer is an int class in 0 ... 10 (ANSWERS below). Linear maps are
# x @ W + b with W (d_in, d_out); the parameters are a dict of arrays and a backward
# returns its gradients in a dict with the same keys. Randomness only from the rng
# passed in. No function changes its inputs. Every function keeps the float dtype it is
# given (float64 or float32). The tests compare float64 results to 1e-6 relative
# (gradients against central differences), float32 results to 1e-4.

# %%
import time

import numpy as np
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"

Params = dict[str, np.ndarray]

K = 6  # objects per scene, one of each colour
COLOURS = ("red", "green", "blue", "orange", "grey", "yellow")
SHAPES = ("square", "circle")
N_FEATURES = len(COLOURS) + 2 + len(SHAPES)  # 10: colour one-hot, x, y, shape one-hot
QUESTION_TYPES = (
    "what shape is the {c} object?",  # 0: non-relational, answer square or circle
    "is the {c} object on the left?",  # 1: non-relational, x < 0.5, answer no or yes
    "how many objects have the shape of the {c} object?",  # 2: relational, 1 ... K (itself included)
    "how many objects lie to the left of the {c} object?",  # 3: relational, 0 ... K - 1
)
RELATIONAL = (2, 3)
N_QUESTION = len(COLOURS) + len(QUESTION_TYPES)  # 10
ANSWERS = ("square", "circle", "no", "yes") + tuple(str(k) for k in range(K + 1))  # 11 classes
COUNT0 = 4  # answer class of the count 0: count k is class COUNT0 + k
KEYS = ("g1_W", "g1_b", "g2_W", "g2_b", "f1_W", "f1_b", "f2_W", "f2_b")


# %% [markdown]
# ## Given: scenes and questions


# %%
def make_scenes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n scenes and one question about each, float64: (objects (n, K, F), questions (n, 10)).

    Every scene holds one object of each colour, in a random order (so that no slot of the
    array belongs to a colour), at a uniform position in the unit square, a square or a
    circle with probability 1/2 each. The question asks about a uniformly drawn colour,
    with a uniformly drawn type."""
    colour = rng.permuted(np.tile(np.arange(K), (n, 1)), axis=1)  # (n, K): a shuffled order
    position = rng.random((n, K, 2))
    shape = rng.integers(0, 2, size=(n, K))
    objects = np.concatenate([np.eye(K)[colour], position, np.eye(2)[shape]], axis=-1)
    asked = rng.integers(0, K, size=n)
    kind = rng.integers(0, len(QUESTION_TYPES), size=n)
    questions = np.concatenate([np.eye(K)[asked], np.eye(len(QUESTION_TYPES))[kind]], axis=-1)
    return objects, questions


def describe_scene(objects: np.ndarray, question: np.ndarray, answer: int | None = None) -> str:
    """One scene (K, F) and its question (10,) in words, with the answer if given."""
    lines = []
    for o in objects:
        colour, shape = COLOURS[int(o[:K].argmax())], SHAPES[int(o[-2:].argmax())]
        lines.append(f"  {colour:>6} {shape:<6} at ({o[K]:.2f}, {o[K + 1]:.2f})")
    text = QUESTION_TYPES[int(question[K:].argmax())].format(c=COLOURS[int(question[:K].argmax())])
    return "\n".join(lines + [f"  Q: {text}" + ("" if answer is None else f"  A: {ANSWERS[answer]}")])


# %% [markdown]
# ## The answers


# %%
def answer_questions(
    objects: Float[np.ndarray, "batch K F"], questions: Float[np.ndarray, "batch Q"]
) -> Int[np.ndarray, " batch"]:
    """The answer class (int64, an index into ANSWERS) of each question about its scene.

    Let c be the object whose colour the question asks about (the one whose colour one-hot
    objects[n, :, :6] matches questions[n, :6]) and t = questions[n, 6:].argmax() its type:
      t = 0: its shape: 0 (square) or 1 (circle), the argmax of its last two features;
      t = 1: is it on the left, x < 0.5 (x is feature 6)? 2 (no) or 3 (yes);
      t = 2: how many objects of the scene have its shape, c itself included: COUNT0 + count;
      t = 3: how many objects lie to its left, with x strictly smaller than its own:
             COUNT0 + count.
    Vectorised over the batch (no Python loop over scenes)."""
    # BEGIN SOLUTION
    n = len(objects)
    rows = np.arange(n)
    which = (objects[:, :, :K] * questions[:, None, :K]).sum(-1).argmax(axis=1)  # (n,): c's slot
    asked = objects[rows, which]  # (n, F)
    kind = questions[:, K:].argmax(axis=1)
    shape = objects[:, :, -2:].argmax(-1)  # (n, K): 0 square, 1 circle
    same_shape = (shape == shape[rows, which][:, None]).sum(axis=1)  # c included
    left_of = (objects[:, :, K] < asked[:, None, K]).sum(axis=1)  # c is not left of itself
    answers = np.select(
        [kind == 0, kind == 1, kind == 2],
        [shape[rows, which], np.where(asked[:, K] < 0.5, 3, 2), COUNT0 + same_shape],
        COUNT0 + left_of,
    )
    return answers.astype(np.int64)
    # END SOLUTION


if MAIN:
    check(answer_questions)


# %% [markdown]
# ## All pairs


# %%
def all_pairs(
    objects: Float[np.ndarray, "batch K F"], questions: Float[np.ndarray, "batch Q"]
) -> Float[np.ndarray, "batch K K P"]:
    """Every ordered pair of objects with the question: out[n, i, j] = [o_i, o_j, q], the
    concatenation of objects[n, i], objects[n, j] and questions[n], of length 2F + Q.
    Pairs (i, i) and both orders (i, j) and (j, i) are included. No Python loop."""
    # BEGIN SOLUTION
    n, k, f = objects.shape
    first = np.broadcast_to(objects[:, :, None, :], (n, k, k, f))  # o_i along axis 1
    second = np.broadcast_to(objects[:, None, :, :], (n, k, k, f))  # o_j along axis 2
    q = np.broadcast_to(questions[:, None, None, :], (n, k, k, questions.shape[1]))
    return np.concatenate([first, second, q], axis=-1)
    # END SOLUTION


if MAIN:
    check(all_pairs)


# %%
def all_pairs_backward(
    dpairs: Float[np.ndarray, "batch K K P"], n_features: int
) -> tuple[Float[np.ndarray, "batch K F"], Float[np.ndarray, "batch Q"]]:
    """The gradients (dobjects (N, K, F), dquestions (N, Q)) of L, given dpairs = dL/dpairs
    for pairs = all_pairs(objects, questions) with F = n_features. Object i appears in two
    roles, first in every pair (i, j) and second in every pair (j, i); the question in every
    pair."""
    # BEGIN SOLUTION
    f = n_features
    dobjects = dpairs[..., :f].sum(axis=2) + dpairs[..., f : 2 * f].sum(axis=1)  # both roles
    dquestions = dpairs[..., 2 * f :].sum(axis=(1, 2))
    return dobjects, dquestions
    # END SOLUTION


if MAIN:
    check(all_pairs_backward)


# %% [markdown]
# ## The relation network


# %%
def rn_init(rng: np.random.Generator, hidden: int = 64, n_features: int = N_FEATURES) -> Params:
    """Given: He-initialised weights (rng.normal, std sqrt(2 / d_in)), drawn in the order
    g1, g2, f1, f2, zero biases, float64. g: 2F + 10 -> hidden -> hidden, f: hidden ->
    hidden -> len(ANSWERS)."""
    sizes = {
        "g1": (2 * n_features + N_QUESTION, hidden),
        "g2": (hidden, hidden),
        "f1": (hidden, hidden),
        "f2": (hidden, len(ANSWERS)),
    }
    params = {}
    for name, (d_in, d_out) in sizes.items():
        params[f"{name}_W"] = rng.normal(0.0, np.sqrt(2.0 / d_in), size=(d_in, d_out))
        params[f"{name}_b"] = np.zeros(d_out)
    return params


# %%
def rn_forward(
    objects: Float[np.ndarray, "batch K F"], questions: Float[np.ndarray, "batch Q"], params: Params
) -> tuple[Float[np.ndarray, "batch A"], tuple]:
    """The relation network's logits (N, A) and a cache for rn_backward:

        pairs = all_pairs(objects, questions)                   (N, K, K, 2F + Q)
        g = relu(relu(pairs @ g1_W + g1_b) @ g2_W + g2_b)        (N, K, K, H)
        s = the sum of g over both object axes (all K² pairs)   (N, H)
        logits = relu(s @ f1_W + f1_b) @ f2_W + f2_b            (N, A)

    relu(x) = max(x, 0). Every pair goes through the same g (one matrix product over all
    N·K² pairs, no Python loop)."""
    # BEGIN SOLUTION
    p = params
    n, k, _ = objects.shape
    # One row per pair: (N·K², 2F + Q). A 4-D array @ W would run N·K small products, one
    # per (n, i); two dimensions make it one large product, many times faster.
    pairs = all_pairs(objects, questions).reshape(n * k * k, -1)
    a1 = pairs @ p["g1_W"] + p["g1_b"]
    h1 = np.maximum(a1, 0)
    a2 = h1 @ p["g2_W"] + p["g2_b"]
    g = np.maximum(a2, 0).reshape(n, k, k, -1)
    s = g.sum(axis=(1, 2))  # the relations, summed: the order of the objects cannot matter
    a3 = s @ p["f1_W"] + p["f1_b"]
    z = np.maximum(a3, 0)
    logits = z @ p["f2_W"] + p["f2_b"]
    return logits, (objects, p, pairs, a1, h1, a2, g, s, a3, z)
    # END SOLUTION


if MAIN:
    check(rn_forward)


# %%
def rn_backward(
    dlogits: Float[np.ndarray, "batch A"], cache: tuple
) -> tuple[Float[np.ndarray, "batch K F"], Float[np.ndarray, "batch Q"], Params]:
    """The gradients of the relation network, for (logits, cache) = rn_forward(objects,
    questions, params), given dlogits = dL/dlogits.

    Returns (dobjects, dquestions, grads), grads with the keys of params. Use your
    all_pairs_backward for the last step."""
    # BEGIN SOLUTION
    objects, p, pairs, a1, h1, a2, g, s, a3, z = cache
    grads = {"f2_W": z.T @ dlogits, "f2_b": dlogits.sum(axis=0)}
    da3 = (dlogits @ p["f2_W"].T) * (a3 > 0)
    grads["f1_W"], grads["f1_b"] = s.T @ da3, da3.sum(axis=0)
    ds = da3 @ p["f1_W"].T  # (N, H)
    n, k = g.shape[:2]
    # The sum hands ds to every pair: row (n, i, j) of the pairs gets ds[n].
    dg = np.broadcast_to(ds[:, None, None, :], g.shape).reshape(n * k * k, -1)
    da2 = dg * (a2 > 0)
    grads["g2_W"], grads["g2_b"] = h1.T @ da2, da2.sum(axis=0)
    da1 = (da2 @ p["g2_W"].T) * (a1 > 0)
    grads["g1_W"], grads["g1_b"] = pairs.T @ da1, da1.sum(axis=0)
    dpairs = (da1 @ p["g1_W"].T).reshape(n, k, k, -1)
    dobjects, dquestions = all_pairs_backward(dpairs, objects.shape[-1])
    return dobjects, dquestions, {key: grads[key] for key in KEYS}
    # END SOLUTION


if MAIN:
    check(rn_backward)


# %% [markdown]
# ## Given: the loss, Adam, and the baseline


# %%
def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Given: the mean softmax cross-entropy (stable: log-sum-exp after subtracting each
    row's maximum) and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1
    return float(-log_p[np.arange(n), labels].mean()), dlogits / n


def adam_step(
    params: Params, grads: Params, state: dict | None, lr: float, betas=(0.9, 0.999), eps=1e-8
) -> tuple[Params, dict]:
    """Given: one Adam step on every array of params (state None before the first step).
    Returns (new params, new state); nothing is changed in place."""
    beta1, beta2 = betas
    if state is None:
        state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in params.items()}}
        state["v"] = {k: np.zeros_like(v) for k, v in params.items()}
    t = state["t"] + 1
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in params}
    new = {
        k: params[k] - lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + eps) for k in params
    }
    return new, {"t": t, "m": m, "v": v}


def mlp_baseline(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    steps: int,
    rng: np.random.Generator,
    hidden: int = 256,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> np.ndarray:
    """Given: the baseline, an MLP on the concatenated objects and question
    (K·F + 10 -> hidden -> hidden -> A, ReLU), trained with Adam like the relation network;
    returns its predicted classes on the test scenes."""

    def features(objects, questions):
        return np.concatenate([objects.reshape(len(objects), -1), questions], axis=1)

    x, y = features(train[0], train[1]), train[2]
    sizes = [(x.shape[1], hidden), (hidden, hidden), (hidden, len(ANSWERS))]
    params = {}
    for i, (d_in, d_out) in enumerate(sizes):
        params[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / d_in), size=(d_in, d_out))
        params[f"b{i}"] = np.zeros(d_out)

    def forward(params, x):
        acts = [x]
        for i in range(len(sizes)):
            a = acts[-1] @ params[f"W{i}"] + params[f"b{i}"]
            acts.append(np.maximum(a, 0) if i < len(sizes) - 1 else a)
        return acts

    state = None
    for _ in range(steps):
        idx = rng.integers(0, len(x), size=batch_size)
        acts = forward(params, x[idx])
        _, d = cross_entropy(acts[-1], y[idx])
        grads = {}
        for i in reversed(range(len(sizes))):
            grads[f"W{i}"], grads[f"b{i}"] = acts[i].T @ d, d.sum(axis=0)
            d = (d @ params[f"W{i}"].T) * (acts[i] > 0)
        params, state = adam_step(params, grads, state, lr)
    return forward(params, features(test[0], test[1]))[-1].argmax(axis=1)


# %% [markdown]
# ## Training


# %%
def train_rn(
    params: Params,
    objects: Float[np.ndarray, "n K F"],
    questions: Float[np.ndarray, "n Q"],
    answers: Int[np.ndarray, " n"],
    steps: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
) -> tuple[Params, list[float]]:
    """Train the relation network with Adam; returns (new params, the loss of every step).

    Each step: idx = rng.integers(0, n, size=batch_size) (a batch drawn with replacement);
    logits from rn_forward on those scenes; loss and dlogits from cross_entropy; grads
    from rn_backward; then params, state = adam_step(params, grads, state, lr), the state
    carried from step to step (None at first). losses[k] is step k's loss before its
    update, a Python float. params is not changed."""
    # BEGIN SOLUTION
    state, losses = None, []
    for _ in range(steps):
        idx = rng.integers(0, len(objects), size=batch_size)
        logits, cache = rn_forward(objects[idx], questions[idx], params)
        loss, dlogits = cross_entropy(logits, answers[idx])
        _, _, grads = rn_backward(dlogits, cache)
        params, state = adam_step(params, grads, state, lr)
        losses.append(loss)
    return params, losses
    # END SOLUTION


if MAIN:
    check(train_rn)


# %% [markdown]
# ## Relational reasoning: the relation network against an MLP
#
# Accuracy on held-out scenes, by question type. The reading states what the reference
# reaches and how long it takes.


# %%
def accuracy_by_type(predicted: np.ndarray, answers: np.ndarray, questions: np.ndarray) -> dict[str, float]:
    """Given: accuracy on the non-relational and on the relational questions."""
    relational = np.isin(questions[:, K:].argmax(axis=1), RELATIONAL)
    right = predicted == answers
    return {"non-relational": float(right[~relational].mean()), "relational": float(right[relational].mean())}


if MAIN:
    data_rng = np.random.default_rng(0)
    train_objects, train_questions = make_scenes(20000, data_rng)
    test_objects, test_questions = make_scenes(2000, data_rng)
    print(describe_scene(train_objects[0], train_questions[0]))
    try:
        train_answers = answer_questions(train_objects, train_questions)
        test_answers = answer_questions(test_objects, test_questions)
        start = time.perf_counter()
        params, losses = train_rn(
            rn_init(np.random.default_rng(1)),
            train_objects,
            train_questions,
            train_answers,
            4000,
            64,
            3e-3,
            np.random.default_rng(2),
        )
        seconds = time.perf_counter() - start
        predicted = rn_forward(test_objects, test_questions, params)[0].argmax(axis=1)
        print(
            f"relation network, {seconds:.0f} s:", accuracy_by_type(predicted, test_answers, test_questions)
        )
        baseline = mlp_baseline(
            (train_objects, train_questions, train_answers),
            (test_objects, test_questions),
            4000,
            np.random.default_rng(3),
        )
        print("MLP on the concatenated objects:", accuracy_by_type(baseline, test_answers, test_questions))
    except NotImplementedError as missing:
        print(f"Finish {missing} to train the model.")
