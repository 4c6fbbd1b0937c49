# %% [markdown]
# # Chapter 1, part 2: a tensor autograd engine
#
# Reading: chapters/chapter1_autograd/part2_tensor_engine.md
#
# Fill in each function, then run the cell below it: `check(fn)` runs that exercise's
# tests here and prints a verdict. `python -m grader chapter1/part2` grades the file.
#
# The protocol every op follows (see `power`, the worked example):
#   1. compute the result's data with NumPy from the operands' `.data`;
#   2. define `backward_fn(grad)`, where `grad` is dL/d(result), shaped like the result;
#      for each operand `p` with `p.requires_grad`, ADD (+=) dL/dp into `p.grad`, an array
#      of p's shape that `backward` has prepared (operands with requires_grad=False have
#      `grad = None`: skip them);
#   3. `return op_result(data, (operands...), backward_fn)`.
# Operands are Tensors; the operator overloads wrap numbers and arrays as constants.

# %%
import contextlib
from typing import Any, Callable, no_type_check

import numpy as np
from jaxtyping import Float

from grader.check import check

MAIN = __name__ == "__main__"


# %%
# The Tensor class and the grad-mode switch are given. They skip the runtime shape checks
# (`no_type_check`): the op functions below are checked, and checking the plumbing too
# would make every op call pay for dozens of checks.
@no_type_check
class Tensor:
    """An n-dimensional float64 array that records how it was computed, for reverse-mode autograd.

    Tensor(data, requires_grad=False) copies `data` (a number, nested list or ndarray) into
    a new float64 array. A tensor made this way is a *leaf*; one returned by an op is a
    *result*, which remembers its `parents` (the operand tensors) and a `backward_fn`.

    Attributes
        data: np.ndarray, float64, the value.
        grad: np.ndarray of data's shape, or None. For a leaf with requires_grad, `backward`
            adds dL/d(leaf) into it (it accumulates over calls: reset it to None yourself).
            For a result it is a scratch buffer while `backward` runs and None afterwards.
        requires_grad: whether gradients flow to this tensor. A result requires grad when
            grad mode is on (see `no_grad`) and one of its operands requires grad.
        parents: tuple of the operand tensors of the op that made it; () for a leaf, and
            for a result that does not require grad (nothing to backpropagate into).
        backward_fn: None for a leaf; for a result, backward_fn(grad) takes dL/d(result)
            and adds each operand's gradient into its `.grad` (see the protocol above).

    Operators and methods call the module's op functions: + - * / @ ** unary -, t[key],
    .sum(axis, keepdims), .mean(...), .max(...), .reshape(*shape), .transpose(*axes),
    .exp(), .log(), .relu(), .softmax(axis), .log_softmax(axis), .backward(grad).
    Numbers and arrays on either side of an operator are wrapped as constants. Tensors
    compare and hash by identity (there is no elementwise ==), so sets and dicts of
    tensors work.
    """

    __slots__ = ("data", "grad", "requires_grad", "parents", "backward_fn")
    __array_ufunc__ = None  # ndarray + Tensor calls Tensor.__radd__, not NumPy's loop

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = np.array(data, dtype=np.float64)  # a copy: the tensor owns it
        # An ndarray while backward runs (and on leaves afterwards), else None: typed Any
        # because the backward functions only run once it is an array, which no checker sees.
        self.grad: Any = None
        self.requires_grad = bool(requires_grad)
        self.parents: tuple[Tensor, ...] = ()
        self.backward_fn: Callable[[np.ndarray], None] | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.parents

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return float(self.data.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        return f"Tensor({body}{', requires_grad=True' if self.requires_grad else ''})"

    # Arithmetic: the other operand may be a Tensor, a number or an ndarray.
    def __add__(self, other: Any) -> "Tensor":
        return add(self, as_tensor(other))

    def __radd__(self, other: Any) -> "Tensor":
        return add(as_tensor(other), self)

    def __sub__(self, other: Any) -> "Tensor":
        return sub(self, as_tensor(other))

    def __rsub__(self, other: Any) -> "Tensor":
        return sub(as_tensor(other), self)

    def __mul__(self, other: Any) -> "Tensor":
        return mul(self, as_tensor(other))

    def __rmul__(self, other: Any) -> "Tensor":
        return mul(as_tensor(other), self)

    def __truediv__(self, other: Any) -> "Tensor":
        return div(self, as_tensor(other))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return div(as_tensor(other), self)

    def __matmul__(self, other: Any) -> "Tensor":
        return matmul(self, as_tensor(other))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return matmul(as_tensor(other), self)

    def __pow__(self, exponent: float) -> "Tensor":
        return power(self, exponent)

    def __neg__(self) -> "Tensor":
        return neg(self)

    def __getitem__(self, key: Any) -> "Tensor":
        return index(self, key)

    # Reductions, shapes and elementwise functions.
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "Tensor":
        return tensor_sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "Tensor":
        return mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "Tensor":
        return tensor_max(self, axis, keepdims)

    def reshape(self, *shape: Any) -> "Tensor":
        """t.reshape(2, 3) or t.reshape((2, 3)); one entry may be -1."""
        return reshape(self, tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def transpose(self, *axes: Any) -> "Tensor":
        """t.transpose() reverses the axes; t.transpose(1, 2, 0) or t.transpose((1, 2, 0)) permutes them."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return transpose(self, axes if axes else None)

    def exp(self) -> "Tensor":
        return exp(self)

    def log(self) -> "Tensor":
        return log(self)

    def relu(self) -> "Tensor":
        return relu(self)

    def softmax(self, axis: int = -1) -> "Tensor":
        return softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        return log_softmax(self, axis)

    def backward(self, grad: Any = None) -> None:
        """Backpropagate from this tensor: see the module function `backward`."""
        backward(self, None if grad is None else np.array(grad, dtype=np.float64))


_grad_enabled = True


@no_type_check
def is_grad_enabled() -> bool:
    """Whether ops record the graph (parents and backward_fn) of results that require grad."""
    return _grad_enabled


@no_type_check
def set_grad_enabled(enabled: bool) -> None:
    """Turn the recording of the graph on or off for the ops that follow."""
    global _grad_enabled
    _grad_enabled = bool(enabled)


@no_type_check
def as_tensor(x: Any) -> Tensor:
    """x itself if it is a Tensor, else a constant (requires_grad=False) Tensor of x."""
    return x if isinstance(x, Tensor) else Tensor(x)


@no_type_check
def op_result(data: Any, parents: tuple[Tensor, ...], backward_fn: Callable[[np.ndarray], None]) -> Tensor:
    """The Tensor an op returns: `data` (made float64), with `parents` and `backward_fn`
    recorded when grad mode is on and one of the parents requires grad; otherwise a
    constant with no parents (nothing will ever backpropagate through it).

    `data` is used as is, not copied (a view such as a reshape stays a view).
    """
    out = Tensor.__new__(Tensor)  # skip __init__'s copy: `data` was just computed
    out.data = np.asarray(data, dtype=np.float64)  # NumPy reductions return scalars: make them 0-d
    out.grad = None
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad, out.parents, out.backward_fn = True, parents, backward_fn
    else:
        out.requires_grad, out.parents, out.backward_fn = False, (), None
    return out


# %%
# The worked example: every op below has this shape.
def power(a: Float[Tensor, "*shape"], exponent: float) -> Float[Tensor, "*shape"]:
    """a ** exponent elementwise, for a constant (number) exponent.

    d(a^p)/da = p a^(p-1).
    """

    def backward_fn(grad: np.ndarray) -> None:
        if a.requires_grad:
            a.grad += grad * exponent * a.data ** (exponent - 1)

    return op_result(a.data**exponent, (a,), backward_fn)


# %%
def unbroadcast(
    grad: Float[np.ndarray, "*out_shape"] | float, shape: tuple[int, ...]
) -> Float[np.ndarray, "*shape"] | float:
    """Sum a gradient back to the shape of an operand that was broadcast.

    If an operand of shape `shape` was broadcast to `grad.shape` in the forward pass, each of
    its entries was used several times, so its gradient is the sum of `grad` over the copies:
    over the leading axes that broadcasting added, and over the axes where `shape` has length
    1 but `grad` does not (keeping them, with length 1).

    grad: the gradient of the broadcast result; shape: the operand's shape, which must
    broadcast to grad.shape. Returns an array of exactly `shape`; may return `grad` itself
    when nothing needs summing, and never changes `grad`. (For shape (), `grad` and the
    result may be NumPy scalars such as np.float64: NumPy's arithmetic on 0-d arrays and its
    sums over every axis return those.)
    """
    raise NotImplementedError("unbroadcast")


if MAIN:
    check(unbroadcast)


# %%
def add(a: Float[Tensor, "*#shape"], b: Float[Tensor, "*#shape"]) -> Float[Tensor, "*#shape"]:
    """a + b elementwise, with NumPy broadcasting (the result has the broadcast shape).

    The gradient of each operand is the upstream gradient, summed back to its shape.
    """

    raise NotImplementedError("add")


if MAIN:
    check(add)


# %%
def neg(a: Float[Tensor, "*shape"]) -> Float[Tensor, "*shape"]:
    """-a elementwise."""

    raise NotImplementedError("neg")


if MAIN:
    check(neg)


# %%
def sub(a: Float[Tensor, "*#shape"], b: Float[Tensor, "*#shape"]) -> Float[Tensor, "*#shape"]:
    """a - b elementwise, with broadcasting."""

    raise NotImplementedError("sub")


if MAIN:
    check(sub)


# %%
def mul(a: Float[Tensor, "*#shape"], b: Float[Tensor, "*#shape"]) -> Float[Tensor, "*#shape"]:
    """a * b elementwise, with broadcasting. d(ab)/da = b, d(ab)/db = a."""

    raise NotImplementedError("mul")


if MAIN:
    check(mul)


# %%
def div(a: Float[Tensor, "*#shape"], b: Float[Tensor, "*#shape"]) -> Float[Tensor, "*#shape"]:
    """a / b elementwise, with broadcasting. d(a/b)/da = 1/b, d(a/b)/db = -a/b²."""

    raise NotImplementedError("div")


if MAIN:
    check(div)


# %%
def matmul(a: Float[Tensor, "*#batch n k"], b: Float[Tensor, "*#batch k m"]) -> Float[Tensor, "*#batch n m"]:
    """The matrix product a @ b, for operands with at least two axes.

    The last two axes are the matrices; any leading (batch) axes broadcast as in np.matmul,
    so (4, 1, n, k) @ (2, k, m) gives (4, 2, n, m), and (n, k) @ (2, k, m) gives (2, n, m).
    With G = dL/d(a @ b): dL/da = G @ bᵀ and dL/db = aᵀ @ G (ᵀ swaps the last two axes),
    summed over the batch axes that were broadcast.
    """

    raise NotImplementedError("matmul")


if MAIN:
    check(matmul)


# %%
def tensor_sum(
    a: Float[Tensor, "..."], axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> Float[Tensor, "..."]:
    """The sum of a's entries over `axis` (None: all axes; an int; or a tuple of ints,
    negative ones counting from the end), keeping the summed axes with length 1 if
    `keepdims`, as np.sum. Every entry that was summed gets the gradient of its sum.
    """

    raise NotImplementedError("tensor_sum")


if MAIN:
    check(tensor_sum)


# %%
def mean(
    a: Float[Tensor, "..."], axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> Float[Tensor, "..."]:
    """The mean of a's entries over `axis` (as np.mean; axis and keepdims as in tensor_sum).

    Each entry's gradient is its mean's gradient divided by the number of entries averaged.
    """
    raise NotImplementedError("mean")


if MAIN:
    check(mean)


# %%
def tensor_max(
    a: Float[Tensor, "..."], axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> Float[Tensor, "..."]:
    """The largest entry of a over `axis` (as np.max; axis and keepdims as in tensor_sum).

    The gradient of a maximum goes to the entry that attains it. Ties: when k entries share
    the maximum, each gets 1/k of its gradient (as torch.amax does), so the gradient's total
    is the same with or without ties.
    """
    raise NotImplementedError("tensor_max")


if MAIN:
    check(tensor_max)


# %%
def reshape(a: Float[Tensor, "..."], shape: tuple[int, ...]) -> Float[Tensor, "..."]:
    """a's entries, in the same (row-major) order, in a new shape; one entry of `shape`
    may be -1, as in np.reshape."""

    raise NotImplementedError("reshape")


if MAIN:
    check(reshape)


# %%
def transpose(a: Float[Tensor, "..."], axes: tuple[int, ...] | None = None) -> Float[Tensor, "..."]:
    """a with its axes permuted, as np.transpose: axis i of the result is axis axes[i] of a.

    axes=None reverses the axes. The backward pass applies the inverse permutation.
    """
    raise NotImplementedError("transpose")


if MAIN:
    check(transpose)


# %%
def index(a: Float[Tensor, "..."], key: Any) -> Float[Tensor, "..."]:
    """a[key], with NumPy's basic indexing (ints, slices, None, ...) and integer-array
    indexing (np.ndarray of ints, or a tuple mixing them: a[rows, cols], a[:, idx]).

    An entry picked several times (repeated indices, as in an embedding lookup) gets the
    sum of the gradients of all its copies.
    """

    raise NotImplementedError("index")


if MAIN:
    check(index)


# %%
def exp(a: Float[Tensor, "*shape"]) -> Float[Tensor, "*shape"]:
    """e^a elementwise; its derivative is itself."""
    raise NotImplementedError("exp")


if MAIN:
    check(exp)


# %%
def log(a: Float[Tensor, "*shape"]) -> Float[Tensor, "*shape"]:
    """The natural logarithm elementwise (for positive entries); d(log a)/da = 1/a."""

    raise NotImplementedError("log")


if MAIN:
    check(log)


# %%
def relu(a: Float[Tensor, "*shape"]) -> Float[Tensor, "*shape"]:
    """max(a, 0) elementwise. Its derivative is 1 where a > 0 and 0 where a <= 0 (0 at a = 0,
    as in PyTorch)."""

    raise NotImplementedError("relu")


if MAIN:
    check(relu)


# %%
def log_softmax(a: Float[Tensor, "..."], axis: int = -1) -> Float[Tensor, "..."]:
    """log(softmax(a)) along `axis`: y = a - log(sum(exp(a))), computed stably (no overflow
    for entries of ±1000), as ONE op with its own backward (its only parent is a).

    With G = dL/dy and s = softmax(a) = exp(y): dL/da = G - s * sum(G) (the sum along axis).
    """
    raise NotImplementedError("log_softmax")


if MAIN:
    check(log_softmax)


# %%
def softmax(a: Float[Tensor, "..."], axis: int = -1) -> Float[Tensor, "..."]:
    """exp(a) / sum(exp(a)) along `axis`, stable for entries of ±1000; the result sums to 1
    along `axis`. With G = dL/ds: dL/da = s * (G - sum(G * s)) (the sum along axis)."""
    raise NotImplementedError("softmax")


if MAIN:
    check(softmax)


# %%
@contextlib.contextmanager
def no_grad():  # no return annotation: @contextmanager changes what a call returns
    """A context manager under which ops record no graph: `with no_grad(): y = model(x)`
    gives a y with requires_grad=False and no parents (for evaluation and sampling).

    On leaving the block, grad mode goes back to what it was before (even if the block
    raised, and when blocks are nested). Use is_grad_enabled() and set_grad_enabled().
    """
    raise NotImplementedError("no_grad")


if MAIN:
    check(no_grad)


# %%
def backward(tensor: Float[Tensor, "*shape"], grad: Float[np.ndarray, "*shape"] | None = None) -> None:
    """Backpropagate from `tensor`: add dL/dx into x.grad for every leaf x with
    requires_grad that `tensor` depends on, where L = sum(grad * tensor).

    grad: dL/d(tensor), of tensor's shape. If None, `tensor` must have one element, and
    grad is 1 (tensor is the loss L). Raises RuntimeError if grad is None for a tensor of
    several elements, or if `tensor` does not require grad.

    Each node's backward_fn runs once, after every node that uses it has added its
    contribution to the node's gradient (reverse topological order, found without
    recursion, so deep graphs work). Before that, every node needing a gradient gets one:
    results get a fresh array of zeros, and leaves keep the gradient they already have
    (so gradients of leaves ACCUMULATE over backward calls), or get zeros if it is None.
    `grad` is added into tensor.grad, never stored as it: the caller's array is not changed,
    now or by a later backward.

    Afterwards, results have grad None again (their gradients were scratch buffers; as in
    PyTorch, only leaves keep theirs), but they keep parents and backward_fn, so
    backward can run again over the same graph.
    """
    raise NotImplementedError("backward")


if MAIN:
    check(backward)


# %% [markdown]
# ## Try it: logistic regression on two blobs
#
# Everything the next parts need is here. A linear classifier trained by gradient descent
# with your engine: the loss falls and the accuracy reaches about 98%.

# %%
if MAIN:
    g = np.random.default_rng(0)
    points = np.concatenate([g.normal(-1.5, 1, size=(100, 2)), g.normal(1.5, 1, size=(100, 2))])
    labels = np.repeat([0, 1], 100)
    W = Tensor(g.normal(size=(2, 2)) * 0.1, requires_grad=True)
    b = Tensor(np.zeros(2), requires_grad=True)
    for step in range(101):
        logits = Tensor(points) @ W + b
        loss = -logits.log_softmax()[np.arange(200), labels].mean()
        W.grad = b.grad = None
        loss.backward()
        for p in (W, b):
            p.data -= 0.5 * p.grad
        if step % 25 == 0:
            with no_grad():
                accuracy = ((Tensor(points) @ W + b).data.argmax(axis=1) == labels).mean()
            print(f"step {step:3d}  loss {loss.item():.4f}  accuracy {accuracy:.1%}")
