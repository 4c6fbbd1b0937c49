# %% [markdown]
# # Chapter 1, part 1: a scalar autograd engine
#
# Reading: chapters/chapter1_autograd/part1_scalar_engine.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter1/part1` grades the file.
#
# Conventions used throughout:
# - a `Value` is one node of a computation graph: a float `data`, the gradient `grad`
#   of the final output with respect to it, the `parents` it was computed from, and a
#   `backward_fn` closure that pushes `grad` on to the parents.
# - every op returns a NEW Value whose `parents` are its inputs, and whose `backward_fn`
#   ADDS (`+=`) d(out)/d(input) * out.grad to each input's grad. It never sets a grad
#   with `=`: an input used twice receives two contributions.
# - ops take Values; Python numbers are wrapped into constant Values by the operators
#   (`x * 2` calls `mul(x, as_value(2))`), so `x * 2`, `2 * x` and `x ** 3` all work.

# %%
from __future__ import annotations

import math
import random
from typing import Callable, Iterable, no_type_check

from grader.check import check

MAIN = __name__ == "__main__"


# %% [markdown]
# ## Given: the node class
#
# `Value` only stores things and forwards its operators to the module functions below,
# which are the exercises. `__slots__` keeps each node small and fast to create (a
# benchmark compares this engine with part 2's); it also means a node has no other
# attributes, so bookkeeping such as "visited" lives in your own sets and lists.


# %%
@no_type_check  # the grader's runtime type checks would make every node ~100x slower to create
def _no_backward() -> None:
    """The backward_fn of a leaf (an input, a parameter or a constant): nothing to push."""


@no_type_check  # as above: the ops are checked where tests call them, not the node class
class Value:
    """A scalar node of a computation graph.

    data: the number this node holds.
    grad: d(root)/d(self) once `backward(root)` has run; starts at 0.0.
    parents: the Values this one was computed from (empty for a leaf). An op applied to
        the same Value twice, as in mul(a, a), lists it twice: (a, a).
    backward_fn: called once by `backward`, after self.grad is final; adds self.grad
        times the local derivative into each parent's grad.
    op: a label for printing ("+", "*", "tanh", ...).
    """

    __slots__ = ("data", "grad", "parents", "backward_fn", "op")

    def __init__(self, data: float, parents: tuple[Value, ...] = (), op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents
        self.backward_fn: Callable[[], None] = _no_backward
        self.op = op

    def __repr__(self) -> str:
        label = f", op={self.op!r}" if self.op else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{label})"

    # Operators: wrap plain numbers, then call the op functions (the exercises).
    def __add__(self, other: Value | float) -> Value:
        return add(self, as_value(other))

    def __radd__(self, other: float) -> Value:
        return add(as_value(other), self)

    def __mul__(self, other: Value | float) -> Value:
        return mul(self, as_value(other))

    def __rmul__(self, other: float) -> Value:
        return mul(as_value(other), self)

    def __sub__(self, other: Value | float) -> Value:
        return sub(self, as_value(other))

    def __rsub__(self, other: float) -> Value:
        return sub(as_value(other), self)

    def __truediv__(self, other: Value | float) -> Value:
        return div(self, as_value(other))

    def __rtruediv__(self, other: float) -> Value:
        return div(as_value(other), self)

    def __pow__(self, n: float) -> Value:
        return power(self, n)

    def __neg__(self) -> Value:
        return neg(self)

    def exp(self) -> Value:
        return exp(self)

    def log(self) -> Value:
        return log(self)

    def relu(self) -> Value:
        return relu(self)

    def tanh(self) -> Value:
        return tanh(self)

    def sigmoid(self) -> Value:
        return sigmoid(self)

    def backward(self) -> None:
        backward(self)


@no_type_check
def as_value(x: Value | float) -> Value:
    """x itself if it is a Value, else a new constant leaf holding x."""
    return x if isinstance(x, Value) else Value(x)


# %% [markdown]
# ## The ops
#
# Each op has the same four lines: compute the output, define how its gradient flows
# back to the inputs, attach that closure, return. The closure runs later, when
# `out.grad` holds d(root)/d(out); it reads `out.grad` at that moment.


# %%
def add(a: Value, b: Value) -> Value:
    """a + b. Local derivatives: d/da = 1, d/db = 1."""
    raise NotImplementedError("add")


if MAIN:
    check(add)


# %%
def mul(a: Value, b: Value) -> Value:
    """a * b. Local derivatives: d/da = b, d/db = a.

    mul(a, a) must give a the sum of both contributions, 2 * a * out.grad.
    """
    raise NotImplementedError("mul")


if MAIN:
    check(mul)


# %%
def power(a: Value, n: int | float) -> Value:
    """a ** n for a constant exponent n (a Python number, not a Value).

    Local derivative: n * a ** (n - 1). For a non-integer n, a.data must be positive.
    """
    raise NotImplementedError("power")


if MAIN:
    check(power)


# %%
def neg(a: Value) -> Value:
    """-a. Local derivative: -1."""
    raise NotImplementedError("neg")


if MAIN:
    check(neg)


# %%
def sub(a: Value, b: Value) -> Value:
    """a - b. Local derivatives: d/da = 1, d/db = -1.

    You may build it from the ops above (then their closures do the backward work).
    """
    raise NotImplementedError("sub")


if MAIN:
    check(sub)


# %%
def div(a: Value, b: Value) -> Value:
    """a / b (b.data nonzero). Local derivatives: d/da = 1/b, d/db = -a/b**2.

    You may build it from the ops above.
    """
    raise NotImplementedError("div")


if MAIN:
    check(div)


# %%
def exp(a: Value) -> Value:
    """e ** a. Local derivative: e ** a, which is out.data: reuse it."""
    raise NotImplementedError("exp")


if MAIN:
    check(exp)


# %%
def log(a: Value) -> Value:
    """The natural logarithm of a (a.data > 0). Local derivative: 1 / a."""
    raise NotImplementedError("log")


if MAIN:
    check(log)


# %%
def relu(a: Value) -> Value:
    """max(a, 0). Local derivative: 1 where a > 0, else 0 (also at a = 0)."""
    raise NotImplementedError("relu")


if MAIN:
    check(relu)


# %%
def tanh(a: Value) -> Value:
    """The hyperbolic tangent t = tanh(a). Local derivative: 1 - t**2.

    Must work for any float a, including ±1000 (where e ** (2a) overflows).
    """
    raise NotImplementedError("tanh")


if MAIN:
    check(tanh)


# %%
def sigmoid(a: Value) -> Value:
    """The logistic function s = 1 / (1 + e ** -a). Local derivative: s * (1 - s).

    Must work for any float a, including ±1000 (math.exp(1000) raises OverflowError).
    The value must be within 1e-9 relative or 1e-15 absolute of σ(a): any stable form
    passes, including (1 + tanh(a/2)) / 2 and 1 - σ(-a), which round σ(-40) ≈ 4e-18 to 0.
    """
    raise NotImplementedError("sigmoid")


if MAIN:
    check(sigmoid)


# %% [markdown]
# ## Running the closures in the right order


# %%
def topological_order(root: Value) -> list[Value]:
    """Every Value reachable from root through `parents`, each exactly once, parents
    before children: if p is in v.parents, p comes before v. Root is therefore last.

    A Value reached along several paths (a diamond, or mul(a, a)) appears once. Must
    work on graphs deeper than Python's recursion limit (a chain of 5000 additions):
    use an explicit stack, not recursion. Values do not define ==, so a set of them
    tells nodes apart by identity.
    """
    raise NotImplementedError("topological_order")


if MAIN:
    check(topological_order)


# %%
def backward(root: Value) -> None:
    """Backpropagate from root: add d(root)/d(v) into v.grad for every leaf v (a Value
    without parents) reachable from root.

    Gradients of leaves ACCUMULATE: a leaf's grad is added to, never reset, so calling
    backward twice doubles them, and backward on two roots that share a leaf sums
    both gradients (call `zero_grad` in between for fresh ones). An inner node (one with
    parents) is reset to 0 first and holds this call's d(root)/d(node) afterwards; this
    keeps gradients left over from an earlier call from being pushed on a second time.

    Steps: take `topological_order(root)`; reset every inner node's grad to 0; add 1 to
    root.grad (d root / d root); call each node's backward_fn, children before parents.
    """
    raise NotImplementedError("backward")


if MAIN:
    check(backward)


# %%
def zero_grad(values: Iterable[Value]) -> None:
    """Set the grad of every Value in `values` to 0.0 (any iterable, a generator too).

    Values that are not listed keep their grad; data and parents are never touched.
    """
    raise NotImplementedError("zero_grad")


if MAIN:
    check(zero_grad)


# %% [markdown]
# ## Checking gradients yourself


# %%
def numerical_gradient(f: Callable[[list[float]], float], xs: list[float], eps: float = 1e-6) -> list[float]:
    """The gradient of f at xs by central differences:

        df/dx_i ≈ (f(xs + eps e_i) - f(xs - eps e_i)) / (2 eps),

    one coordinate at a time (e_i is the i-th unit vector). f takes a list of floats
    as long as xs and returns a float. xs is not modified, not even by a rounding residue
    (x + eps - 2 eps + eps is not always x): each call of f sees xs exactly, with one
    coordinate moved. Returns a list of floats.
    """
    raise NotImplementedError("numerical_gradient")


if MAIN:
    check(numerical_gradient)


# %% [markdown]
# ## Putting it together
#
# Your engine against your checker on an expression with shared nodes, then a tiny
# neural network trained with it: a 2-4-1 tanh network learning XOR.


# %%
def demo_expression(x: Value, y: Value, z: Value) -> Value:
    """An expression in which x, y and the inner node h are each used several times."""
    h = (x * y + z).tanh()
    return h * x + (h**2 + 1).log() - y / (1 + z.exp()) + (x - y).relu() * h.sigmoid()


if MAIN:
    point = [0.7, -1.3, 0.4]
    inputs = [Value(v) for v in point]
    backward(demo_expression(*inputs))
    numeric = numerical_gradient(lambda v: demo_expression(*(Value(a) for a in v)).data, point)
    print("backward:  ", [f"{v.grad:.8f}" for v in inputs])
    print("numerical: ", [f"{g:.8f}" for g in numeric])


# %%
def train_xor(steps: int = 300, lr: float = 0.5, seed: int = 0) -> list[float]:
    """Fit XOR with a 2-4-1 tanh network on Values by gradient descent; returns the losses."""
    gen = random.Random(seed)
    w1 = [[Value(gen.uniform(-1, 1)) for _ in range(2)] for _ in range(4)]
    b1 = [Value(0.0) for _ in range(4)]
    w2 = [Value(gen.uniform(-1, 1)) for _ in range(4)]
    b2 = Value(0.0)
    params = [w for row in w1 for w in row] + b1 + w2 + [b2]
    data = [([0.0, 0.0], -1.0), ([0.0, 1.0], 1.0), ([1.0, 0.0], 1.0), ([1.0, 1.0], -1.0)]
    losses = []
    for _ in range(steps):
        loss = Value(0.0)
        for x, target in data:
            hidden = [(w[0] * x[0] + w[1] * x[1] + b).tanh() for w, b in zip(w1, b1)]
            y = sum((w * h for w, h in zip(w2, hidden)), b2).tanh()
            loss = loss + (y - target) ** 2
        zero_grad(params)
        backward(loss)
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


if MAIN:
    losses = train_xor()
    print(f"XOR loss: {losses[0]:.3f} at the start, {losses[-1]:.4f} after {len(losses)} steps")
