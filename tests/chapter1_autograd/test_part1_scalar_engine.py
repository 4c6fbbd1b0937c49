"""Tests for chapter 1, part 1: the scalar Value engine.

Each op is tested on its own: build out = op(fresh leaves), set out.grad to a random number,
run the backward closures of out's (small) graph in an order computed here, and compare
each leaf's grad with the derivative worked out by hand, added to whatever the leaf held
before. So an op's tests need neither the learner's topological_order nor backward.

topological_order and backward are tested on graphs built here from the learner's Value
class but with closures written in this file (`_node`), so a mistake in an op is never
blamed on them. Their gradients are compared with central differences of the same random
expression evaluated on plain floats; the expressions reuse nodes many times (diamonds).
"""

import math
import sys

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, numeric_grad, rng

# ---------------------------------------------------------------------------------------------
# Helpers: a graph walk of our own, and the op checks every op's tests share.


def _graph(root) -> list:
    """Every node reachable from root, parents before children (an iterative DFS by id)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents)
    return order


def _run_closures(root, upstream: float) -> None:
    """Set root.grad and run the backward closures of root's graph, children first.

    For a single-node op this is just `root.backward_fn()`; an op built from other ops
    (sub = add(a, neg(b))) also runs the closures of its inner nodes.
    """
    root.grad = upstream
    for node in reversed(_graph(root)):
        node.backward_fn()


def _upstream(seed: int) -> float:
    """A random out.grad of size 0.5 to 2 and random sign: never 1, so a missing factor shows."""
    g = rng(seed)
    return float(g.uniform(0.5, 2.0) * g.choice([-1.0, 1.0]))


def _call_text(name: str, values: tuple, constants: tuple) -> str:
    args = [f"Value({x:.4g})" for x in values] + [repr(c) for c in constants]
    return f"{name}({', '.join(args)})"


def _apply(impl, name: str, values: tuple, constants: tuple = (), shared: bool = False):
    """(leaves, out, text): out = impl.name(leaves..., constants...), checked for being a new
    Value that leads back to its leaves. shared=True passes one leaf for every Value argument."""
    leaves = [impl.Value(values[0])] * len(values) if shared else [impl.Value(x) for x in values]
    text = _call_text(name, values, constants) + (" (the same Value twice)" if shared else "")
    try:
        out = getattr(impl, name)(*leaves, *constants)
    except OverflowError as exc:
        raise AssertionError(
            f"{text} raised OverflowError ({exc}): rewrite it so that no exponential of a large "
            "positive number is taken"
        ) from None
    expect(isinstance(out, impl.Value), f"{text} returned {type(out).__name__}, expected a new Value")
    expect(all(out is not leaf for leaf in leaves), f"{text} returned its input; return a new Value")
    expect(
        all(leaf.data == x and leaf.grad == 0.0 for leaf, x in zip(leaves, values)),
        f"{text} changed its input's data or grad; an op only reads its inputs",
    )
    reachable = {id(node) for node in _graph(out)}
    for i, leaf in enumerate(leaves):
        expect(
            id(leaf) in reachable,
            f"{text}: argument {i + 1} cannot be reached from the result through .parents, so "
            "backward would never reach it; pass the inputs as the new Value's parents",
        )
    return leaves, out, text


# Each op: its value on floats, the list of its partial derivatives with respect to its Value
# arguments, and the arguments tried (Value arguments first, then constants).
_SPECS = {
    "add": (lambda a, b: a + b, lambda a, b: [1.0, 1.0], [(1.5, -0.25), (-2.0, 3.5), (0.3, 0.7)]),
    "mul": (lambda a, b: a * b, lambda a, b: [b, a], [(1.5, -0.25), (-2.0, 3.5), (0.3, 0.7)]),
    "sub": (lambda a, b: a - b, lambda a, b: [1.0, -1.0], [(1.5, -0.25), (-2.0, 3.5), (0.3, 0.7)]),
    "div": (lambda a, b: a / b, lambda a, b: [1 / b, -a / b**2], [(1.5, -0.25), (-2.0, 3.5), (0.3, 0.7)]),
    "neg": (lambda a: -a, lambda a: [-1.0], [(1.5,), (-2.25,), (0.3,)]),
    "power": (
        lambda a, n: a**n,
        lambda a, n: [n * a ** (n - 1)],
        [(1.7, 3), (-1.3, 3), (2.5, -2), (0.8, 0.5), (1.9, 2.5), (-0.6, -1), (3.0, 0), (-1.5, 1)],
    ),
    "exp": (math.exp, lambda a: [math.exp(a)], [(-1.2,), (0.4,), (2.3,)]),
    "log": (math.log, lambda a: [1 / a], [(0.35,), (2.0,), (3.7,)]),
    "relu": (lambda a: max(a, 0.0), lambda a: [float(a > 0)], [(-1.3,), (0.6,), (2.2,), (-0.2,)]),
    "tanh": (math.tanh, lambda a: [1 - math.tanh(a) ** 2], [(-1.1,), (0.3,), (2.0,)]),
    "sigmoid": (
        lambda a: 1 / (1 + math.exp(-a)),
        lambda a: [math.exp(-a) / (1 + math.exp(-a)) ** 2],
        [(-2.5,), (-0.7,), (0.0,), (0.4,), (1.3,)],
    ),
}


# Wrong partial derivatives a learner writes, per op (same form as _SPECS' partials).
_GRAD_MISTAKES = {
    "sub": {"forget the minus sign of d/db": lambda a, b: [1.0, 1.0]},
    "div": {
        "forget the minus sign in d/db = -a/b²": lambda a, b: [1 / b, a / b**2],
        "use d/db = -1/b² (without the a)": lambda a, b: [1 / b, -1 / b**2],
    },
    "mul": {"give each input its own value instead of the other's": lambda a, b: [a, b]},
    "power": {"use n·a^n (the exponent not lowered by one)": lambda a, n: [n * a**n]},
    "exp": {"use the input a instead of e^a": lambda a: [a]},
    "log": {"use log(a) instead of 1/a": lambda a: [math.log(a)]},
    "neg": {"pass the gradient through unchanged (+1 instead of -1)": lambda a: [1.0]},
    "relu": {"let the gradient through for every input": lambda a: [1.0]},
    "tanh": {
        "use 1 - a² (the input) instead of 1 - tanh(a)² (the output)": lambda a: [1 - a**2],
        "use 1 - tanh(a) (not squared)": lambda a: [1 - math.tanh(a)],
    },
    "sigmoid": {
        "use a(1 - a) (the input) instead of s(1 - s) (the output)": lambda a: [a * (1 - a)],
        "use s (the output) instead of s(1 - s)": lambda a: [1 / (1 + math.exp(-a))],
    },
}


def _split(name: str, case: tuple) -> tuple[tuple, tuple]:
    """(Value arguments, constant arguments) of one case of an op."""
    k = len(_SPECS[name][1](*case))
    return case[:k], case[k:]


def _check_values(impl, name: str) -> None:
    f, _, cases = _SPECS[name]
    for case in cases:
        values, constants = _split(name, case)
        _, out, text = _apply(impl, name, values, constants)
        expect_close(Call(out.data, text), f(*case), rtol=1e-9, atol=1e-12, what="out.data")


def _check_grads(impl, name: str, seed: int, held_before: bool) -> None:
    """Run out's closures with a random out.grad; each leaf must gain out.grad × its partial.

    held_before: the leaves already hold a grad (from another use), which must be kept.
    """
    _, partials, cases = _SPECS[name]
    g = rng(seed)
    for k, case in enumerate(cases):
        values, constants = _split(name, case)
        leaves, out, text = _apply(impl, name, values, constants)
        before = [float(v) for v in g.normal(size=len(leaves))] if held_before else [0.0] * len(leaves)
        for leaf, b in zip(leaves, before):
            leaf.grad = b
        upstream = _upstream(seed * 100 + k)
        _run_closures(out, upstream)
        for i, (leaf, b, d) in enumerate(zip(leaves, before, partials(*case))):
            rule = f"out.grad × d(out)/d(argument) = {upstream:.4g} × {d:.4g}"
            what = (
                f"argument {i + 1}'s grad held {b:.4g} before and must gain {rule} (+=, not =)"
                if held_before
                else f"with out.grad = {upstream:.4g}, argument {i + 1}'s grad must be {rule}"
            )
            expect_close(
                Call(leaf.grad, f"{text}, then its backward"),
                b + upstream * d,
                rtol=1e-9,
                atol=1e-12,
                what=what,
                mistakes={
                    "set the grad (=) instead of adding to it (+=)": upstream * d,
                    "forget to multiply by out.grad": b + d,
                }
                | {
                    phrase: b + upstream * wrong(*case)[i]
                    for phrase, wrong in _GRAD_MISTAKES.get(name, {}).items()
                },
            )


def _check_same_input_twice(impl, name: str, x: float, seed: int) -> None:
    """op(a, a): the value f(x, x), and a's grad gains both partials."""
    f, partials, _ = _SPECS[name]
    (leaf, _), out, text = _apply(impl, name, (x, x), shared=True)
    expect_close(Call(out.data, text), f(x, x), rtol=1e-9, atol=1e-12, what="out.data")
    upstream = _upstream(seed)
    leaf.grad = 0.25
    _run_closures(out, upstream)
    d1, d2 = partials(x, x)
    expect_close(
        Call(leaf.grad, f"{text} with out.grad = {upstream:.4g}"),
        0.25 + upstream * (d1 + d2),
        rtol=1e-9,
        atol=1e-12,
        what=f"a held 0.25 and is both arguments: it must gain out.grad × ({d1:.4g} + {d2:.4g}), "
        "one term per use",
    )


def _check_composed_with_itself(impl, name: str, x: float, seed: int) -> None:
    """op(op(a)): the closure of the outer node must feed the inner one (chain rule twice)."""
    f, partials, _ = _SPECS[name]
    leaf = impl.Value(x)
    inner = getattr(impl, name)(leaf)
    out = getattr(impl, name)(inner)
    text = f"{name}({name}(Value({x:.4g})))"
    expect_close(Call(out.data, text), f(f(x)), rtol=1e-9, atol=1e-12, what="out.data")
    upstream = _upstream(seed)
    _run_closures(out, upstream)
    want = upstream * partials(f(x))[0] * partials(x)[0]
    expect_close(
        Call(leaf.grad, f"{text} with out.grad = {upstream:.4g}"),
        want,
        rtol=1e-9,
        atol=1e-12,
        what="grad of the input: out.grad × f'(f(x)) × f'(x)",
    )


# ---------------------------------------------------------------------------------------------
# add, mul, sub, div


@exercise("add")
def test_add_value(impl):
    _check_values(impl, "add")


@exercise("add")
def test_add_chain_rule(impl):
    _check_grads(impl, "add", seed=1, held_before=False)


@exercise("add")
def test_add_accumulates(impl):
    _check_grads(impl, "add", seed=2, held_before=True)


@exercise("add")
def test_add_same_value_twice(impl):
    _check_same_input_twice(impl, "add", 1.75, seed=3)


@exercise("mul")
def test_mul_value(impl):
    _check_values(impl, "mul")


@exercise("mul")
def test_mul_chain_rule(impl):
    _check_grads(impl, "mul", seed=4, held_before=False)


@exercise("mul")
def test_mul_accumulates(impl):
    _check_grads(impl, "mul", seed=5, held_before=True)


@exercise("mul")
def test_mul_same_value_twice(impl):
    # mul(a, a) = a²: a must receive b.data·g and a.data·g, i.e. 2·a·g in all
    _check_same_input_twice(impl, "mul", -1.3, seed=6)


@exercise("sub")
def test_sub_value(impl):
    _check_values(impl, "sub")


@exercise("sub")
def test_sub_chain_rule(impl):
    _check_grads(impl, "sub", seed=7, held_before=False)


@exercise("sub")
def test_sub_accumulates(impl):
    _check_grads(impl, "sub", seed=8, held_before=True)


@exercise("sub")
def test_sub_same_value_twice(impl):
    # a - a = 0 whatever a is, so a's grad must not change at all
    _check_same_input_twice(impl, "sub", 0.9, seed=9)


@exercise("div")
def test_div_value(impl):
    _check_values(impl, "div")


@exercise("div")
def test_div_chain_rule(impl):
    _check_grads(impl, "div", seed=10, held_before=False)


@exercise("div")
def test_div_accumulates(impl):
    _check_grads(impl, "div", seed=11, held_before=True)


@exercise("div")
def test_div_same_value_twice(impl):
    _check_same_input_twice(impl, "div", -2.5, seed=12)


# ---------------------------------------------------------------------------------------------
# neg, power


@exercise("neg")
def test_neg_value(impl):
    _check_values(impl, "neg")


@exercise("neg")
def test_neg_chain_rule(impl):
    _check_grads(impl, "neg", seed=13, held_before=False)


@exercise("neg")
def test_neg_accumulates(impl):
    _check_grads(impl, "neg", seed=14, held_before=True)


@exercise("neg")
def test_neg_twice_is_identity(impl):
    _check_composed_with_itself(impl, "neg", 0.7, seed=15)


@exercise("power")
def test_power_value(impl):
    # integer exponents on negative bases, negative and fractional exponents, 0 and 1
    _check_values(impl, "power")


@exercise("power")
def test_power_chain_rule(impl):
    # d/da a**n = n·a**(n-1): a slip to n·a**n is off by a factor a (all bases here ≠ 1)
    _check_grads(impl, "power", seed=16, held_before=False)


@exercise("power")
def test_power_accumulates(impl):
    _check_grads(impl, "power", seed=17, held_before=True)


@exercise("power")
def test_power_composed_with_itself(impl):
    # (a**3)**3 = a**9: the outer closure reads the inner node's data, not the leaf's
    leaf = impl.Value(1.2)
    out = impl.power(impl.power(leaf, 3), 3)
    expect_close(Call(out.data, "power(power(Value(1.2), 3), 3)"), 1.2**9, rtol=1e-9)
    upstream = _upstream(18)
    _run_closures(out, upstream)
    expect_close(
        Call(leaf.grad, f"power(power(Value(1.2), 3), 3) with out.grad = {upstream:.4g}"),
        upstream * 9 * 1.2**8,
        rtol=1e-9,
        what="d/da a**9 = 9·a**8, times out.grad",
    )


# ---------------------------------------------------------------------------------------------
# exp, log


@exercise("exp")
def test_exp_value(impl):
    _check_values(impl, "exp")


@exercise("exp")
def test_exp_chain_rule(impl):
    # d/da e**a = e**a = out.data; a slip to a.data is caught at every point here
    _check_grads(impl, "exp", seed=19, held_before=False)


@exercise("exp")
def test_exp_accumulates(impl):
    _check_grads(impl, "exp", seed=20, held_before=True)


@exercise("exp")
def test_exp_composed_with_itself(impl):
    _check_composed_with_itself(impl, "exp", 0.45, seed=21)


@exercise("log")
def test_log_value(impl):
    _check_values(impl, "log")


@exercise("log")
def test_log_chain_rule(impl):
    # d/da log a = 1 / a.data (the input); 1 / out.data would be the wrong node
    _check_grads(impl, "log", seed=22, held_before=False)


@exercise("log")
def test_log_accumulates(impl):
    _check_grads(impl, "log", seed=23, held_before=True)


@exercise("log")
def test_log_composed_with_itself(impl):
    _check_composed_with_itself(impl, "log", 5.5, seed=24)


# ---------------------------------------------------------------------------------------------
# relu, tanh, sigmoid


@exercise("relu")
def test_relu_value(impl):
    _check_values(impl, "relu")


@exercise("relu")
def test_relu_chain_rule(impl):
    _check_grads(impl, "relu", seed=25, held_before=False)


@exercise("relu")
def test_relu_accumulates(impl):
    _check_grads(impl, "relu", seed=26, held_before=True)


@exercise("relu")
def test_relu_blocks_gradient_at_negative_inputs(impl):
    # and at 0, as the docstring says (PyTorch's convention)
    for x in [-3.0, -0.5, -1e-3, 0.0]:
        (leaf,), out, text = _apply(impl, "relu", (x,))
        expect_close(Call(out.data, text), 0.0, atol=0, what="relu of a negative number")
        leaf.grad = 0.5
        _run_closures(out, _upstream(27))
        expect_close(
            Call(leaf.grad, f"{text}, then its backward"),
            0.5,
            atol=0,
            what="an input <= 0 gets no gradient (relu is flat there; 0 at the kink); its grad must stay 0.5",
        )


@exercise("tanh")
def test_tanh_value(impl):
    _check_values(impl, "tanh")


@exercise("tanh")
def test_tanh_chain_rule(impl):
    # d/da tanh a = 1 - tanh(a)² = 1 - out.data², not 1 - a.data²
    _check_grads(impl, "tanh", seed=28, held_before=False)


@exercise("tanh")
def test_tanh_accumulates(impl):
    _check_grads(impl, "tanh", seed=29, held_before=True)


@exercise("tanh")
@pytest.mark.parametrize("x", [-1000.0, -40.0, 40.0, 1000.0])
def test_tanh_large_inputs(impl, x):
    # (e^2a - 1) / (e^2a + 1) overflows (math.exp raises) once a > 354
    (leaf,), out, text = _apply(impl, "tanh", (x,))
    expect_close(Call(out.data, text), math.copysign(1.0, x), rtol=1e-15, what="out.data")
    _run_closures(out, _upstream(30))
    expect_close(
        Call(leaf.grad, f"{text}, then its backward"),
        0.0,
        atol=1e-30,
        what="tanh is flat out here: the gradient is 0",
    )


@exercise("sigmoid")
def test_sigmoid_value(impl):
    _check_values(impl, "sigmoid")


@exercise("sigmoid")
def test_sigmoid_chain_rule(impl):
    # d/da σ(a) = σ(a)(1 - σ(a)) = out.data·(1 - out.data)
    _check_grads(impl, "sigmoid", seed=31, held_before=False)


@exercise("sigmoid")
def test_sigmoid_accumulates(impl):
    _check_grads(impl, "sigmoid", seed=32, held_before=True)


@exercise("sigmoid")
@pytest.mark.parametrize("x", [-1000.0, -40.0, 40.0, 1000.0])
def test_sigmoid_large_inputs(impl, x):
    # math.exp(1000) raises OverflowError: compute with e^-|a| on both sides of 0. The
    # docstring allows 1e-15 absolute: (1 + tanh(a/2))/2 and 1 - σ(-a) give σ(-40) ≈ 4e-18 as 0.
    (leaf,), out, text = _apply(impl, "sigmoid", (x,))
    want = 1 / (1 + math.exp(-x)) if x > 0 else math.exp(x) / (1 + math.exp(x))
    expect_close(Call(out.data, text), want, rtol=1e-9, atol=1e-15, what="out.data")
    _run_closures(out, 1.5)
    # σ(40)·(1 - σ(40)) rounds to 0 while e^-40/(1 + e^-40)² is 4e-18: both are fine
    expect_close(
        Call(leaf.grad, f"{text}, then its backward"),
        1.5 * math.exp(-abs(x)),
        rtol=1e-6,
        atol=1e-15,
        what="σ(a)(1 - σ(a)) × out.grad",
    )


# ---------------------------------------------------------------------------------------------
# Graphs built here: nodes of the learner's Value class with closures of our own, and random
# expressions evaluated both on floats and on such nodes.


def _node(impl, data: float, parents: tuple, partials: tuple):
    """A Value holding data whose backward adds partial × out.grad into each parent."""
    out = impl.Value(data, parents, "test")

    def backward_fn():
        for parent, d in zip(parents, partials):
            parent.grad += d * out.grad

    out.backward_fn = backward_fn
    return out


# name: (value, partial derivatives) on floats
_UNARY = {
    "tanh": (math.tanh, lambda a: (1 - math.tanh(a) ** 2,)),
    "sin": (math.sin, lambda a: (math.cos(a),)),
    "square": (lambda a: a * a, lambda a: (2 * a,)),
}
_BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
    "mul": (lambda a, b: a * b, lambda a, b: (b, a)),
}


def _random_program(g: np.random.Generator, n_inputs: int, n_steps: int) -> list[tuple]:
    """Steps (op, i) or (op, i, j) over earlier slots (the inputs, then earlier steps).

    Each step takes the oldest slot not used yet, and often a recent one too (possibly the
    same: i == j), so nodes are reused along many paths; slots still unused at the end are
    added into the root, so every slot is reachable from it.
    """
    steps: list[tuple] = []
    unused = list(range(n_inputs))
    for k in range(n_steps):
        slots = n_inputs + k
        first = unused.pop(0) if unused else slots - 1 - min(int(g.exponential(2.0)), slots - 1)
        if g.random() < 0.55:
            other = slots - 1 - min(int(g.exponential(3.0)), slots - 1)
            steps.append((str(g.choice(list(_BINARY))), first, other))
            if other in unused:
                unused.remove(other)
        else:
            steps.append((str(g.choice(list(_UNARY))), first))
        unused.append(slots)
    while len(unused) > 1:
        steps.append(("add", unused.pop(0), unused.pop(0)))
        unused.append(n_inputs + len(steps) - 1)
    return steps


def _eval_slots(program: list[tuple], xs) -> list[float]:
    slots = [float(x) for x in xs]
    for op, *args in program:
        table = _BINARY if len(args) == 2 else _UNARY
        slots.append(table[op][0](*(slots[i] for i in args)))
    return slots


def _eval_floats(program: list[tuple], xs) -> float:
    return _eval_slots(program, xs)[-1]


def _random_expression(seed: int, n_inputs: int, n_steps: int) -> tuple[list[tuple], np.ndarray]:
    """A random program and a point where it is well conditioned: every value below 20 in size
    and every input's gradient above 0.05 (a test where all gradients are 0 checks nothing).
    Redrawn until both hold; fixed by the seed."""
    g = rng(seed)
    while True:
        program, xs = _random_program(g, n_inputs, n_steps), g.normal(size=n_inputs)
        if max(abs(v) for v in _eval_slots(program, xs)) < 20:
            grad = numeric_grad(lambda v, program=program: _eval_floats(program, v), xs)
            if np.abs(grad).min() > 0.05:
                return program, xs


def _build(impl, program: list[tuple], inputs: list) -> list:
    """All slots as Values (the given input Values first, root last), with closures of this file."""
    slots = list(inputs)
    for op, *args in program:
        f, partials = (_BINARY if len(args) == 2 else _UNARY)[op]
        operands = [slots[i] for i in args]
        data = [v.data for v in operands]
        slots.append(_node(impl, f(*data), tuple(operands), partials(*data)))
    return slots


def _chain_with_shared_leaf(impl, depth: int):
    """x, and y_depth where y_0 = x and y_k = y_(k-1) + x: deep, with x shared by every level."""
    x = impl.Value(0.5)
    y = x
    for _ in range(depth):
        y = _node(impl, y.data + x.data, (y, x), (1.0, 1.0))
    return x, y


def _diamond_ladder(impl, depth: int):
    """x, and h_depth where h_0 = x and h_k = (h_(k-1) + h_(k-1)) / 2: 2^depth paths, d/dx = 1."""
    x = impl.Value(0.3)
    h = x
    for _ in range(depth):
        h = _node(impl, h.data, (h, h), (0.5, 0.5))
    return x, h


def _topological_call(impl, root, about: str):
    """impl.topological_order(root), with a clear message for a recursive version on a deep graph."""
    try:
        return Call(impl.topological_order(root), f"topological_order(root of {about})")
    except RecursionError:
        raise AssertionError(
            f"topological_order(root of {about}) hit RecursionError (Python allows about "
            f"{sys.getrecursionlimit()} nested calls): walk the graph with an explicit stack"
        ) from None


def _expect_topological(call: Call, root) -> None:
    """call's result holds each node reachable from root exactly once, parents first."""
    order = call.value
    expect(isinstance(order, list), f"{call}: returned {type(order).__name__}, expected a list")
    position: dict[int, int] = {}
    for k, node in enumerate(order):
        expect(
            id(node) not in position,
            f"{call}: {node!r} appears at positions {position.get(id(node))} and {k}; each node "
            "must appear once, or backward runs its closure twice and double-counts",
        )
        position[id(node)] = k
    reachable = _graph(root)
    missing = [v for v in reachable if id(v) not in position]
    if missing:
        raise AssertionError(
            f"{call}: {len(missing)} of the {len(reachable)} nodes reachable from root "
            f"are missing, e.g. {missing[0]!r}"
        )
    expect(
        len(order) == len(reachable),
        f"{call}: {len(order)} nodes returned but only {len(reachable)} are reachable from root "
        "(follow .parents from root only)",
    )
    for node in order:
        for parent in node.parents:
            expect(
                position[id(parent)] < position[id(node)],
                f"{call}: a parent at position {position[id(parent)]} comes after its child at "
                f"position {position[id(node)]}; parents must come first (root last)",
            )


def _expect_backward(impl, root, leaves, want, about: str, extra: str = "", mistakes=None) -> None:
    try:
        impl.backward(root)
    except RecursionError:
        raise AssertionError(
            f"backward(root of {about}) hit RecursionError: is topological_order "
            "recursive? walk the graph with an explicit stack"
        ) from None
    grads = Call(np.array([leaf.grad for leaf in leaves], dtype=float), f"backward(root of {about})")
    expect_close(
        grads,
        np.asarray(want, dtype=float),
        rtol=1e-6,
        atol=1e-8,
        what=f"the leaves' grads{extra}",
        mistakes={phrase: np.asarray(wrong, dtype=float) for phrase, wrong in (mistakes or {}).items()},
    )


# ---------------------------------------------------------------------------------------------
# topological_order


@exercise("topological_order")
def test_topological_order_diamond(impl):
    # x feeds a = 2x and b = tanh x, both feed c = a + b, and d = c·x uses x once more
    x = impl.Value(0.8)
    a = _node(impl, 1.6, (x,), (2.0,))
    b = _node(impl, math.tanh(0.8), (x,), (1 - math.tanh(0.8) ** 2,))
    c = _node(impl, a.data + b.data, (a, b), (1.0, 1.0))
    d = _node(impl, c.data * 0.8, (c, x), (0.8, c.data))
    call = _topological_call(impl, d, "x → (2x, tanh x) → sum → ·x")
    _expect_topological(call, d)
    expect(
        call.value[0] is x and call.value[-1] is d,
        f"{call}: x (used by every other node) must come first and the root d last",
    )


@exercise("topological_order")
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_topological_order_random_graphs(impl, seed):
    program, xs = _random_expression(seed, n_inputs=4, n_steps=25)
    slots = _build(impl, program, [impl.Value(x) for x in xs])
    _expect_topological(_topological_call(impl, slots[-1], f"random graph {seed}"), slots[-1])


@exercise("topological_order")
def test_topological_order_repeated_parent_and_ladder(impl):
    # every node lists its parent twice, as mul(h, h) does: 2^12 paths but 13 nodes
    _, root = _diamond_ladder(impl, 12)
    _expect_topological(_topological_call(impl, root, "a ladder of nodes with parents (h, h)"), root)


@exercise("topological_order")
def test_topological_order_deeper_than_recursion_limit(impl):
    x, root = _chain_with_shared_leaf(impl, 5000)
    call = _topological_call(impl, root, "a chain of 5000 additions")
    _expect_topological(call, root)


@exercise("topological_order")
def test_topological_order_of_a_leaf(impl):
    leaf = impl.Value(2.0)
    call = _topological_call(impl, leaf, "a single Value")
    expect(len(call.value) == 1 and call.value[0] is leaf, f"{call}: got {call.value!r}, expected [leaf]")


# ---------------------------------------------------------------------------------------------
# backward


@exercise("backward")
def test_backward_worked_example(impl):
    # The reading's example: u = x·y, v = u + z, L = v·x at x = 2, y = -3, z = 4, so L = -4,
    # dL/dv = x = 2, dL/du = 2, and x gets v = -2 directly plus 2·y = -6 through u: -8.
    x, y, z = impl.Value(2.0), impl.Value(-3.0), impl.Value(4.0)
    u = _node(impl, -6.0, (x, y), (-3.0, 2.0))
    v = _node(impl, -2.0, (u, z), (1.0, 1.0))
    loss = _node(impl, -4.0, (v, x), (2.0, -2.0))
    _expect_backward(
        impl,
        loss,
        [x, y, z],
        [-8.0, 4.0, 2.0],
        "L = (x·y + z)·x at (2, -3, 4)",
        mistakes={
            # parents first: u and v run while their grads are still 0, only L's closure counts
            "run the closures parents first (the topological order itself, not reversed)": [-2.0, 0.0, 0.0],
            "forget to seed the root's grad with 1": [0.0, 0.0, 0.0],
        },
    )
    inner = Call(np.array([loss.grad, v.grad, u.grad], dtype=float), "backward(L)")
    expect_close(
        inner,
        np.array([1.0, 2.0, 2.0]),
        what="the grads of L, v and u (L's own grad is seeded with dL/dL = 1)",
    )


@exercise("backward")
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_backward_matches_central_differences(impl, seed):
    program, xs = _random_expression(seed, n_inputs=3, n_steps=20)
    slots = _build(impl, program, [impl.Value(x) for x in xs])
    want = numeric_grad(lambda v: _eval_floats(program, v), xs)
    _expect_backward(
        impl, slots[-1], slots[:3], want, f"random expression {seed}", " (compared with central differences)"
    )


@exercise("backward")
def test_backward_counts_shared_nodes_once(impl):
    # h_k = (h + h) / 2 twelve times: h_12 = x, so dh/dx = 1; running a closure twice inflates it
    x, root = _diamond_ladder(impl, 12)
    _expect_backward(impl, root, [x], [1.0], "a ladder of 12 diamonds (h + h)/2")


@exercise("backward")
def test_backward_deeper_than_recursion_limit(impl):
    x, root = _chain_with_shared_leaf(impl, 5000)
    _expect_backward(impl, root, [x], [5001.0], "y = x + x + ... + x (5000 additions)")


@exercise("backward")
def test_backward_accumulates_across_calls(impl):
    # Leaves add up: two calls give twice the gradient, on top of what a leaf held before.
    # An inner node must not push its previous call's gradient again (that gives 3×, not 2×).
    program, xs = _random_expression(7, n_inputs=3, n_steps=15)
    slots = _build(impl, program, [impl.Value(x) for x in xs])
    slots[0].grad = 0.5
    once = numeric_grad(lambda v: _eval_floats(program, v), xs)
    impl.backward(slots[-1])
    _expect_backward(
        impl,
        slots[-1],
        slots[:3],
        2 * once + np.array([0.5, 0, 0]),
        "a random expression",
        " after two calls (x0 held 0.5 before)",
        mistakes={"reset every grad to 0 first, the leaves' too (they must accumulate)": once},
    )
    expect_close(
        Call(float(slots[-1].grad), "backward(root), called twice"),
        1.0,
        what="the root's grad: an inner node holds d root/d node of the latest call",
    )


@exercise("backward")
def test_backward_two_roots_sharing_an_inner_node(impl):
    # h = tanh(x·w) feeds both losses; backward on each adds both gradients into x and w.
    x, w = impl.Value(0.6), impl.Value(-1.4)
    p = _node(impl, 0.6 * -1.4, (x, w), (-1.4, 0.6))
    h = _node(impl, math.tanh(p.data), (p,), (1 - math.tanh(p.data) ** 2,))
    loss1 = _node(impl, 3.0 * h.data, (h,), (3.0,))
    loss2 = _node(impl, h.data**2, (h, h), (h.data, h.data))
    impl.backward(loss1)
    dh = (3.0 + 2 * h.data) * (1 - h.data**2)
    _expect_backward(
        impl,
        loss2,
        [x, w],
        [dh * -1.4, dh * 0.6],
        "two losses sharing h = tanh(x·w)",
        " after backward(loss1) then backward(loss2): the sum of both gradients",
    )


@exercise("backward")
def test_backward_on_a_leaf(impl):
    # d x / d x = 1, added to what x held
    x = impl.Value(3.0)
    x.grad = 0.25
    _expect_backward(
        impl,
        x,
        [x],
        [1.25],
        "a single Value x that held grad 0.25",
        mistakes={"set root.grad = 1 instead of adding 1 to it": [1.0]},
    )


# ---------------------------------------------------------------------------------------------
# zero_grad


def _values_with_grads(impl, grads) -> list:
    values = [impl.Value(float(k)) for k in range(len(grads))]
    for v, g in zip(values, grads):
        v.grad = g
    return values


def _expect_grads(values, want, text: str) -> None:
    # float(): a grad set to the int 0 behaves as 0.0 everywhere, so it passes too
    grads = np.array([float(v.grad) for v in values])
    expect_close(Call(grads, text), np.asarray(want, dtype=float), atol=0, what="the grads")


@exercise("zero_grad")
def test_zero_grad_zeroes_every_listed_value(impl):
    # negative, huge, infinite and nan grads (what a diverged step leaves) all become 0
    values = _values_with_grads(impl, [1.5, -2.0, 1e300, -math.inf, math.nan, 0.0, 3.0])
    impl.zero_grad(values)
    _expect_grads(values, np.zeros(7), "zero_grad(7 values)")
    expect([v.data for v in values] == [float(k) for k in range(7)], "zero_grad changed some .data")


@exercise("zero_grad")
def test_zero_grad_takes_any_iterable(impl):
    values = _values_with_grads(impl, [0.5, -0.5, 2.0, 7.0])
    impl.zero_grad(v for v in values[:2])  # a generator can be read once only
    impl.zero_grad(tuple(values[2:]))
    _expect_grads(values, np.zeros(4), "zero_grad(a generator), then zero_grad(a tuple)")


@exercise("zero_grad")
def test_zero_grad_leaves_other_values_alone(impl):
    values = _values_with_grads(impl, [0.5, -0.5, 2.0, 7.0, -3.0])
    impl.zero_grad([values[1], values[3], values[1]])
    _expect_grads(values, [0.5, 0.0, 2.0, 0.0, -3.0], "zero_grad([v1, v3, v1])")


@exercise("zero_grad")
def test_zero_grad_between_two_backward_passes(impl):
    # the training-loop pattern: zero, backward, zero, backward gives a fresh gradient each time
    program, xs = _random_expression(3, n_inputs=3, n_steps=12)
    inputs = [impl.Value(x) for x in xs]
    for _ in range(2):  # each step builds a new graph on the same inputs
        impl.zero_grad(inputs)
        _run_closures(_build(impl, program, inputs)[-1], 1.0)
    want = numeric_grad(lambda v: _eval_floats(program, v), xs)
    expect_close(
        Call(np.array([v.grad for v in inputs], dtype=float), "zero_grad(inputs) then backward, twice"),
        want,
        rtol=1e-6,
        atol=1e-8,
        what="the inputs' grads: one step's gradient, not two",
        mistakes={"leave the grads as they were (zero_grad changed nothing)": 2 * want},
    )


# ---------------------------------------------------------------------------------------------
# numerical_gradient


@exercise("numerical_gradient")
def test_numerical_gradient_cubic_at_large_x(impl):
    # (f(x+h) - f(x-h)) / 2h = 3x² + h² exactly for f = x³; a one-sided difference adds 3xh = 0.3
    got = impl.numerical_gradient(lambda v: v[0] ** 3, [100.0], 1e-3)
    expect_close(
        Call(np.array(got), "numerical_gradient(x³, [100.0], eps=1e-3)"),
        np.array([30000.0 + 1e-6]),
        rtol=1e-10,
        what="central difference (f(x+eps) - f(x-eps)) / (2 eps)",
        mistakes={
            "take a one-sided difference (f(x+eps) - f(x)) / eps": np.array([30000.0 + 0.3 + 1e-6]),
            "divide by eps instead of 2 eps": np.array([2 * (30000.0 + 1e-6)]),
        },
    )


@exercise("numerical_gradient")
def test_numerical_gradient_one_coordinate_at_a_time(impl):
    # f = Σ (i+1)·x_i³ + x0·x1·x2·x3. Moving only x_i, the central difference is exactly
    # (i+1)(3x_i² + eps²) + the product of the other three; a coordinate left moved shows.
    xs = [0.5, -1.25, 2.0, 0.75]
    want = np.array([(i + 1) * (3 * t**2 + 0.01) + np.prod(xs) / t for i, t in enumerate(xs)])

    def f(v):
        return sum((i + 1) * t**3 for i, t in enumerate(v)) + v[0] * v[1] * v[2] * v[3]

    got = impl.numerical_gradient(f, xs, 0.1)
    expect_close(
        Call(np.array(got), "numerical_gradient(Σ (i+1)·x_i³ + x0·x1·x2·x3, xs[4], eps=0.1)"),
        want,
        rtol=1e-10,
        what="each partial derivative (move one coordinate, then put it back)",
    )


@exercise("numerical_gradient")
def test_numerical_gradient_default_eps(impl):
    # f = sin(x0)·x1 + exp(x0·x2): coupled coordinates, compared with the exact gradient
    xs = [0.3, -1.7, 0.8]

    def f(v):
        return math.sin(v[0]) * v[1] + math.exp(v[0] * v[2])

    e = math.exp(0.3 * 0.8)
    want = np.array([math.cos(0.3) * -1.7 + 0.8 * e, math.sin(0.3), 0.3 * e])
    got = impl.numerical_gradient(f, xs)
    expect_close(
        Call(np.array(got), "numerical_gradient(sin(x0)·x1 + exp(x0·x2), [0.3, -1.7, 0.8])"),
        want,
        rtol=1e-7,
        atol=1e-8,
    )


@exercise("numerical_gradient")
def test_numerical_gradient_returns_floats_and_keeps_xs(impl):
    xs = [1.0, -2.0, 0.5, 4.0, -0.25]
    lengths = []

    def f(v):
        lengths.append(len(v))
        return sum(t * t for t in v)

    got = impl.numerical_gradient(f, xs, 1e-4)
    text = "numerical_gradient(Σ x², xs[5], eps=1e-4)"
    expect(
        isinstance(got, list) and len(got) == 5 and all(isinstance(g, float) for g in got),
        f"{text}: returned {got!r}, expected a list of 5 floats",
    )
    expect(xs == [1.0, -2.0, 0.5, 4.0, -0.25], f"{text} changed xs to {xs}; perturb a copy")
    expect(set(lengths) == {5}, f"{text} called f with lists of lengths {sorted(set(lengths))}, not 5")
    expect_close(Call(np.array(got), text), 2 * np.array(xs), rtol=1e-9)


@exercise("numerical_gradient")
def test_numerical_gradient_moves_one_coordinate_and_leaves_xs_exact(impl):
    # x + eps - 2 eps + eps is not x in floating point for 0.7, 1/3 or -2.9 with eps = 1e-6:
    # perturbing xs in place and "restoring" it arithmetically leaves residue, in xs and in
    # the coordinates f sees next. Work on copies (or put the saved value back).
    xs = [0.1, 0.7, 1 / 3, -2.9, 1e3]
    saved = list(xs)
    calls = []

    def f(v):
        calls.append(list(v))
        return sum(t * t for t in v)

    impl.numerical_gradient(f, xs)
    text = "numerical_gradient(Σ x², [0.1, 0.7, 1/3, -2.9, 1000.0]) with the default eps"
    changed = [i for i, (a, b) in enumerate(zip(xs, saved)) if a != b]
    expect(
        not changed,
        f"{text} left xs[{changed[0] if changed else ''}] = {xs[changed[0]] if changed else ''!r}, "
        f"not {saved[changed[0]] if changed else ''!r}: x + eps - 2 eps + eps is not exactly x in "
        "floating point; perturb a copy of xs (or put the saved value back), do not undo arithmetically",
    )
    for v in calls:
        moved = [i for i, (a, b) in enumerate(zip(v, saved)) if a != b]
        expect(
            len(moved) <= 1,
            f"{text} called f with coordinates {moved} moved at once ({v}); each call must move "
            "one coordinate and pass every other one exactly as it is in xs",
        )
