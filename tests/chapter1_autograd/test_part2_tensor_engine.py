"""Tests for chapter 1, part 2: a reverse-mode autograd engine over NumPy arrays.

Every backward rule is checked against central differences of a NumPy formula for the op
(never of the learner's own forward): with a random upstream gradient G (never all ones),
an operand x must receive d/dx sum(G * f(..., x, ...)). The op tests backpropagate with the
tests' own graph walk (`_backprop`), so they do not depend on the learner's `backward`; the
tests of `backward` and `no_grad` build their graphs with the given `op_result` and rules
written here, so they do not depend on the learner's ops. Operands start with a random
gradient already in `.grad`, so a rule that overwrites instead of adding (+=) is caught.
"""

import contextlib

import numpy as np
import pytest

from grader.testkit import Call, exercise, expect, expect_close, numeric_grad, rng, run, run_without_warnings

# ---------------------------------------------------------------------------------------------
# Helpers


def _text(name: str, arrays, extra: str = "") -> str:
    """A call as the learner would write it: add(Tensor[3, 1, 5], Tensor[4, 1])."""
    shown = [f"Tensor[{', '.join(map(str, np.shape(a)))}]" for a in arrays]
    return f"{name}({', '.join(shown + ([extra] if extra else []))})"


def _backprop(out, upstream: np.ndarray) -> None:
    """The tests' own backward pass: zeroed buffers for results, then each result's
    backward_fn once, users before the tensors they use (recursion: test graphs are small)."""
    order, seen = [], set()

    def visit(t):
        if id(t) not in seen:
            seen.add(id(t))
            for p in t.parents:
                visit(p)
            order.append(t)

    visit(out)
    for t in order:
        if t.parents:
            t.grad = np.zeros_like(t.data)
    out.grad = upstream.copy()
    for t in reversed(order):
        if t.parents:
            t.backward_fn(t.grad)


def _check_op(
    impl, text: str, f, reference, *arrays, constants=(), seed=0, rtol=1e-5, atol=1e-7, mistakes=None
):
    """f(*tensors) must return a Tensor equal to reference(*arrays) that records its graph;
    backpropagating a random G through it must ADD d/dx sum(G * reference(...)) (central
    differences) to x.grad for each operand x, and leave the operands listed in
    `constants` (made with requires_grad=False) with grad None.

    mistakes: {phrase: wrong forward function of the arrays}, named when the forward value
    matches one. A gradient that is the right one with the upstream G left out, or with the
    wrong sign, is named too."""
    g = rng(seed)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    names = "abcd"
    tensors = [impl.Tensor(a, requires_grad=i not in constants) for i, a in enumerate(arrays)]
    before = [None if i in constants else g.normal(size=a.shape) for i, a in enumerate(arrays)]
    for t, b in zip(tensors, before):
        t.grad = None if b is None else b.copy()

    out = f(*tensors)
    expect(isinstance(out, impl.Tensor), f"{text}: returned {type(out).__name__}, expected a Tensor")
    want = np.asarray(reference(*arrays))
    expect_close(
        Call(out.data, text),
        want,
        what="the forward value",
        mistakes={phrase: lambda wrong=wrong: wrong(*arrays) for phrase, wrong in (mistakes or {}).items()},
    )
    expect(
        out.requires_grad and len(out.parents) > 0,
        f"{text}: the result has requires_grad={out.requires_grad} and {len(out.parents)} parents; "
        "return op_result(data, (operands...), backward_fn) so that the graph is recorded",
    )
    upstream = g.normal(size=want.shape)
    try:
        _backprop(out, upstream)
    except (ValueError, TypeError) as exc:
        raise AssertionError(
            f"backward of {text} raised {type(exc).__name__}: {exc} (is the gradient summed back to "
            "each operand's shape? are operands with requires_grad=False, whose grad is None, skipped?)"
        ) from None
    for i, (a, t, b) in enumerate(zip(arrays, tensors, before)):
        name = names[i] if len(arrays) > 1 else "the operand"
        expect(np.array_equal(t.data, a), f"{text} changed the data of {name} in place")
        if b is None:
            expect(
                t.grad is None,
                f"backward of {text} wrote a gradient into {name}, a constant (requires_grad=False); "
                "skip operands that do not require grad",
            )
            continue

        def loss(x, i=i):
            return float(np.sum(upstream * reference(*arrays[:i], x, *arrays[i + 1 :])))

        def without_upstream(i=i, a=a):
            return numeric_grad(lambda x: float(np.sum(reference(*arrays[:i], x, *arrays[i + 1 :]))), a)

        numeric = numeric_grad(loss, a)
        expect(
            np.shape(t.grad) == a.shape,
            f"backward of {text}: {name}.grad has shape {np.shape(t.grad)} but {name} has shape "
            f"{a.shape}; a gradient has the shape of its tensor (sum over broadcast axes)",
        )
        added = t.grad - b
        if not np.allclose(added, numeric, rtol=rtol, atol=atol) and np.allclose(
            t.grad, numeric, rtol=rtol, atol=atol
        ):
            raise AssertionError(
                f"backward of {text}: {name}.grad was overwritten, not added to; "
                "accumulate with += (a tensor used twice gets both gradients)"
            )
        expect_close(
            Call(added, f"backward of {text}"),
            numeric,
            rtol=rtol,
            atol=atol,
            what=f"the gradient added to {name}.grad (want: central differences)",
            mistakes={
                "leave out the upstream gradient (the chain rule's factor grad)": without_upstream,
                "get the sign of the gradient wrong": -numeric,
            },
        )


def _check(impl, name: str, *arrays, extra: str = "", reference, call=None, **kwargs):
    """_check_op for impl.<name>(*tensors, **call-keywords)."""
    fn = getattr(impl, name)
    f = call if call is not None else fn
    _check_op(impl, _text(name, arrays, extra), f, reference, *arrays, **kwargs)


def _add_into(parent, contribution: np.ndarray) -> None:
    """What the test-built nodes' backward rules do: parent.grad += contribution, after
    checking that backward prepared the buffers in the right order."""
    if parent.requires_grad:
        expect(
            parent.grad is not None,
            "backward ran a node's backward_fn when the gradient of one of its parents was None "
            "(not prepared yet, or already used and released): run each backward_fn once, after "
            "those of all the nodes that use it",
        )
        parent.grad += contribution


def _checked_upstream(grad) -> np.ndarray:
    expect(
        grad is not None,
        "backward called a node's backward_fn with grad None; was it run twice, or before its "
        "gradient was prepared?",
    )
    return grad


def _scale(impl, x, c: float, calls: list | None = None):
    """c * x as a node built here from the given op_result, with its own backward rule."""

    def backward_fn(grad):
        if calls is not None:
            calls.append(c)
        _add_into(x, c * _checked_upstream(grad))

    return impl.op_result(c * x.data, (x,), backward_fn)


def _join(impl, *parts):
    """The elementwise sum of same-shape tensors, as a node built here."""

    def backward_fn(grad):
        for p in parts:
            _add_into(p, _checked_upstream(grad))

    return impl.op_result(sum(p.data for p in parts), tuple(parts), backward_fn)


def _weighted_total(impl, x, w: np.ndarray):
    """sum(w * x), a one-element (0-d) node built here."""

    def backward_fn(grad):
        _add_into(x, _checked_upstream(grad) * w)

    return impl.op_result(np.sum(w * x.data), (x,), backward_fn)


@contextlib.contextmanager
def _grad_mode_restored(impl):
    """Switch grad mode back on after the block, so that a broken no_grad cannot break the
    tests that run after this one."""
    try:
        yield
    finally:
        impl.set_grad_enabled(True)


def _expect_runtime_error(fn, *args, message: str) -> None:
    """fn(*args) must raise RuntimeError (NotImplementedError, a subclass, still means todo)."""
    try:
        fn(*args)
    except NotImplementedError:
        raise
    except RuntimeError:
        return
    raise AssertionError(message)


def _normal(seed: int, *shape: int) -> np.ndarray:
    return rng(seed).normal(size=shape)


def _positive(seed: int, *shape: int) -> np.ndarray:
    return rng(seed).uniform(0.5, 2.0, size=shape)


# ---------------------------------------------------------------------------------------------
# unbroadcast


def _unbroadcast_loops(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Each entry of grad added to the operand entry it was copied from."""
    out = np.zeros(shape)
    lead = grad.ndim - len(shape)
    for idx in np.ndindex(grad.shape):
        out[tuple(0 if n == 1 else i for i, n in zip(idx[lead:], shape))] += grad[idx]
    return out


@exercise("unbroadcast")
@pytest.mark.parametrize(
    "grad_shape, shape",
    [((2, 3, 4), (3, 4)), ((2, 3, 4), (3, 1)), ((2, 3, 4, 5), (3, 1, 5)), ((5, 4, 3), (1, 4, 1))],
)
def test_unbroadcast_matches_loops(impl, grad_shape, shape):
    grad = _normal(0, *grad_shape)
    expect_close(run(impl.unbroadcast, grad, shape), _unbroadcast_loops(grad, shape))


@exercise("unbroadcast")
def test_unbroadcast_sums_leading_axes(impl):
    # Square on purpose: summing the last axis instead of the first gives the right shape.
    grad = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])
    got = run(impl.unbroadcast, grad, (3,))
    expect_close(
        got,
        np.array([111.0, 222.0, 333.0]),
        what="the sum over the added leading axis 0",
        mistakes={"sum over the last axis instead of the leading one": np.array([6.0, 60.0, 600.0])},
    )


@exercise("unbroadcast")
def test_unbroadcast_keeps_stretched_axes(impl):
    grad = np.arange(8.0).reshape(2, 4)
    expect_close(
        run(impl.unbroadcast, grad, (2, 1)),
        np.array([[6.0], [22.0]]),
        what="keepdims on axis 1",
        mistakes={"sum the stretched axis without keepdims (its length 1 is lost)": np.array([6.0, 22.0])},
    )
    expect_close(run(impl.unbroadcast, grad, (1, 4)), np.array([[4.0, 6.0, 8.0, 10.0]]))
    grad3 = _normal(1, 3, 2, 4)
    expect_close(run(impl.unbroadcast, grad3, (2, 1)), grad3.sum(axis=(0, 2))[:, None])


@exercise("unbroadcast")
def test_unbroadcast_to_scalar_and_unchanged(impl):
    grad = _normal(2, 3, 4)
    got = run(impl.unbroadcast, grad, ())
    expect_close(Call(np.asarray(got.value), got.text), np.asarray(grad.sum()), what="a 0-d operand")
    expect_close(run(impl.unbroadcast, grad, (3, 4)), grad, what="nothing to sum")
    expect_close(run(impl.unbroadcast, grad[:1], (1, 4)), grad[:1], what="length-1 axis in both")


@exercise("unbroadcast")
@pytest.mark.parametrize("shape, big", [((4, 1), (3, 4, 5)), ((5,), (2, 3, 5)), ((1, 3, 1), (2, 1, 3, 4))])
def test_unbroadcast_is_adjoint_of_broadcasting(impl, shape, big):
    # <G, broadcast(x)> = <unbroadcast(G), x> for every x: the defining property.
    g = rng(3)
    grad, x = g.normal(size=big), g.normal(size=shape)
    got = run(impl.unbroadcast, grad, shape)
    expect(np.shape(got.value) == shape, f"{got}: shape {np.shape(got.value)}, expected {shape}")
    inner = Call(float(np.sum(got.value * x)), f"sum({got} * x)")
    expect_close(inner, float(np.sum(grad * np.broadcast_to(x, big))), what="<unbroadcast(G), x>")


# ---------------------------------------------------------------------------------------------
# add, neg, sub, mul, div

BROADCAST_BOTH_WAYS = [((3, 1, 5), (4, 1)), ((4, 1), (3, 1, 5))]
# Last: two 0-d operands, where NumPy's arithmetic gives scalars (np.float64), not arrays.
SMALLER_OPERAND = [
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((5, 4), (5, 1)),
    ((2, 3), ()),
    ((), (2, 3)),
    ((), ()),
]


@exercise("add")
def test_add_same_shape(impl):
    _check(impl, "add", _normal(0, 3, 4), _normal(1, 3, 4), reference=np.add)


@exercise("add")
@pytest.mark.parametrize("sa, sb", BROADCAST_BOTH_WAYS)
def test_add_broadcast_both_ways(impl, sa, sb):
    _check(impl, "add", _normal(2, *sa), _normal(3, *sb), reference=np.add)


@exercise("add")
@pytest.mark.parametrize("sa, sb", SMALLER_OPERAND)
def test_add_gradient_of_smaller_operand(impl, sa, sb):
    _check(impl, "add", _normal(4, *sa), _normal(5, *sb), reference=np.add)


@exercise("add")
def test_add_constant_operand(impl):
    _check(impl, "add", _normal(6, 2, 3), _normal(7, 3), reference=np.add, constants=(1,))
    _check(impl, "add", _normal(8, 3), _normal(9, 2, 3), reference=np.add, constants=(1,))


@exercise("add")
def test_add_same_tensor_twice(impl):
    # Both operands are x: its gradient is 2G, one G from each side.
    _check_op(
        impl, "add(x, x), x: Tensor[2, 5]", lambda t: impl.add(t, t), lambda a: 2 * a, _normal(10, 2, 5)
    )


@exercise("neg")
@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), ()])
def test_neg_value_and_gradient(impl, shape):
    _check(impl, "neg", _normal(11, *shape), reference=np.negative)


@exercise("neg")
def test_neg_twice_is_identity(impl):
    x = _normal(12, 3, 2)
    _check_op(impl, "neg(neg(Tensor[3, 2]))", lambda t: impl.neg(impl.neg(t)), lambda a: a, x)


@exercise("neg")
def test_neg_used_twice(impl):
    x = _normal(13, 4, 3)
    _check_op(impl, "neg(x) + neg(x)", lambda t: _join(impl, impl.neg(t), impl.neg(t)), lambda a: -2 * a, x)


@exercise("sub")
@pytest.mark.parametrize("sa, sb", BROADCAST_BOTH_WAYS)
def test_sub_broadcast_both_ways(impl, sa, sb):
    _check(impl, "sub", _normal(14, *sa), _normal(15, *sb), reference=np.subtract)


@exercise("sub")
@pytest.mark.parametrize("sa, sb", SMALLER_OPERAND)
def test_sub_gradient_of_smaller_operand(impl, sa, sb):
    _check(impl, "sub", _normal(16, *sa), _normal(17, *sb), reference=np.subtract)


@exercise("sub")
def test_sub_constant_operand(impl):
    _check(impl, "sub", _normal(18, 3, 4), _normal(19, 4), reference=np.subtract, constants=(0,))
    _check(impl, "sub", _normal(20, 3, 4), _normal(21, 4), reference=np.subtract, constants=(1,))


@exercise("sub")
def test_sub_of_itself_has_zero_gradient(impl):
    # x - x: +G from one side, -G from the other; overwriting leaves -G instead of 0.
    _check_op(
        impl, "sub(x, x), x: Tensor[3, 5]", lambda t: impl.sub(t, t), lambda a: 0 * a, _normal(22, 3, 5)
    )


@exercise("mul")
@pytest.mark.parametrize("sa, sb", BROADCAST_BOTH_WAYS)
def test_mul_broadcast_both_ways(impl, sa, sb):
    _check(impl, "mul", _normal(23, *sa), _normal(24, *sb), reference=np.multiply)


@exercise("mul")
@pytest.mark.parametrize("sa, sb", SMALLER_OPERAND)
def test_mul_gradient_of_smaller_operand(impl, sa, sb):
    _check(impl, "mul", _normal(25, *sa), _normal(26, *sb), reference=np.multiply)


@exercise("mul")
def test_mul_square(impl):
    # x * x: each side contributes G x, so 2 G x in all.
    _check_op(
        impl, "mul(x, x), x: Tensor[2, 3, 2]", lambda t: impl.mul(t, t), np.square, _normal(27, 2, 3, 2)
    )


@exercise("mul")
def test_mul_constant_operand(impl):
    _check(impl, "mul", _normal(28, 4, 1), _normal(29, 4, 3), reference=np.multiply, constants=(1,))
    _check(impl, "mul", _normal(30, 3), _normal(31, 2, 3), reference=np.multiply, constants=(0,))


@exercise("div")
@pytest.mark.parametrize("sa, sb", BROADCAST_BOTH_WAYS)
def test_div_broadcast_both_ways(impl, sa, sb):
    _check(impl, "div", _normal(32, *sa), _positive(33, *sb), reference=np.divide)


@exercise("div")
@pytest.mark.parametrize("sa, sb", SMALLER_OPERAND)
def test_div_gradient_of_smaller_operand(impl, sa, sb):
    _check(impl, "div", _normal(34, *sa), -_positive(35, *sb), reference=np.divide)


@exercise("div")
def test_div_reciprocal(impl):
    # 1 / x: the numerator is a constant, d(1/x)/dx = -1/x².
    one = np.array(1.0)
    _check(impl, "div", one, _positive(36, 2, 3), reference=np.divide, constants=(0,))


@exercise("div")
def test_div_by_itself_has_zero_gradient(impl):
    _check_op(
        impl, "div(x, x), x: Tensor[4, 2]", lambda t: impl.div(t, t), lambda a: a / a, _positive(37, 4, 2)
    )


# ---------------------------------------------------------------------------------------------
# matmul


@exercise("matmul")
def test_matmul_matrices(impl):
    # 3x5 @ 5x4, nothing square: a missing or misplaced transpose cannot go unnoticed.
    _check(impl, "matmul", _normal(40, 3, 5), _normal(41, 5, 4), reference=np.matmul)


@exercise("matmul")
@pytest.mark.parametrize("sa, sb", [((2, 3, 5), (2, 5, 4)), ((2, 1, 3, 2), (2, 4, 2, 3))])
def test_matmul_batched(impl, sa, sb):
    _check(impl, "matmul", _normal(42, *sa), _normal(43, *sb), reference=np.matmul)


@exercise("matmul")
@pytest.mark.parametrize("sa, sb", [((2, 3, 5), (5, 4)), ((3, 5), (2, 5, 4))])
def test_matmul_shared_matrix(impl, sa, sb):
    # The 2-D operand is used by every batch entry: its gradient sums over the batch.
    _check(impl, "matmul", _normal(44, *sa), _normal(45, *sb), reference=np.matmul)


@exercise("matmul")
def test_matmul_batch_broadcast_both_ways(impl):
    # Batch axes (4, 1) and (2,) broadcast to (4, 2): each operand's gradient sums over a different axis.
    _check(impl, "matmul", _normal(46, 4, 1, 3, 5), _normal(47, 2, 5, 4), reference=np.matmul)


@exercise("matmul")
def test_matmul_constant_input(impl):
    # x @ W with data x: only W gets a gradient.
    _check(impl, "matmul", _normal(48, 6, 3), _normal(49, 3, 2), reference=np.matmul, constants=(0,))
    _check(impl, "matmul", _normal(50, 2, 4), _normal(51, 4, 1), reference=np.matmul, constants=(1,))


# ---------------------------------------------------------------------------------------------
# tensor_sum, mean, tensor_max


def _reduction(impl, name, reference, x, axis, keepdims, **kwargs):
    extra = f"axis={axis}, keepdims={keepdims}"
    fn = getattr(impl, name)
    _check(
        impl,
        name,
        x,
        extra=extra,
        call=lambda t: fn(t, axis=axis, keepdims=keepdims),
        reference=lambda a: reference(a, axis=axis, keepdims=keepdims),
        **kwargs,
    )


REDUCE_ONE_AXIS = [((3, 4), 0), ((3, 4, 2), 1), ((2, 3, 4), -1), ((2, 3, 4), 0)]
REDUCE_SEVERAL_AXES = [((2, 3, 4), (0, 2)), ((2, 3, 4, 2), (1, -1)), ((3, 2), (0, 1))]


@exercise("tensor_sum")
def test_tensor_sum_all(impl):
    # axis=None: a 0-d result, whose gradient goes to every entry.
    _reduction(impl, "tensor_sum", np.sum, _normal(61, 2, 3, 4), None, False)
    _reduction(impl, "tensor_sum", np.sum, _normal(62, 2, 3), None, True)


@exercise("tensor_sum")
@pytest.mark.parametrize("shape, axis", REDUCE_ONE_AXIS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_tensor_sum_one_axis(impl, shape, axis, keepdims):
    _reduction(impl, "tensor_sum", np.sum, _normal(63, *shape), axis, keepdims)


@exercise("tensor_sum")
@pytest.mark.parametrize("shape, axis", REDUCE_SEVERAL_AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_tensor_sum_several_axes(impl, shape, axis, keepdims):
    _reduction(impl, "tensor_sum", np.sum, _normal(64, *shape), axis, keepdims)


@exercise("tensor_sum")
@pytest.mark.parametrize("axis", [1, -1])
def test_tensor_sum_rows_of_square_matrix(impl, axis):
    # Row sums of a square matrix: a gradient of shape (4,) added without putting the axis
    # back broadcasts along the wrong axis and gives no error, only wrong values.
    _reduction(impl, "tensor_sum", np.sum, _normal(65, 4, 4), axis, False)
    _reduction(impl, "tensor_sum", np.sum, _normal(66, 2, 3, 3), axis, False)


@exercise("mean")
def test_mean_all(impl):
    _reduction(impl, "mean", np.mean, _normal(70, 3, 5), None, False)
    _reduction(impl, "mean", np.mean, _normal(71, 2, 3, 2), None, True)


@exercise("mean")
@pytest.mark.parametrize("shape, axis", REDUCE_ONE_AXIS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_one_axis(impl, shape, axis, keepdims):
    _reduction(impl, "mean", np.mean, _normal(72, *shape), axis, keepdims)


@exercise("mean")
@pytest.mark.parametrize("shape, axis", REDUCE_SEVERAL_AXES)
def test_mean_several_axes(impl, shape, axis):
    # Divide by the number of entries averaged (2 * 4 = 8 for (2, 3, 4) over (0, 2)), not by the size.
    _reduction(impl, "mean", np.mean, _normal(73, *shape), axis, False)


@exercise("mean")
def test_mean_rows_of_square_matrix(impl):
    _reduction(impl, "mean", np.mean, _normal(74, 4, 4), 1, False)


@exercise("tensor_max")
@pytest.mark.parametrize("shape, axis", REDUCE_ONE_AXIS + REDUCE_SEVERAL_AXES + [((3, 5), None)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_tensor_max_value_and_gradient(impl, shape, axis, keepdims):
    # Random entries have no ties, and a step of 1e-6 does not change which entry is largest.
    _reduction(impl, "tensor_max", np.max, _normal(80, *shape), axis, keepdims)


def _max_backward(impl, x, axis, upstream):
    """x.grad after backpropagating `upstream` through tensor_max(x, axis), from zero."""
    t = impl.Tensor(x, requires_grad=True)
    t.grad = np.zeros_like(x)
    out = impl.tensor_max(t, axis=axis)
    _backprop(out, upstream)
    return Call(t.grad, f"backward of tensor_max(Tensor{list(x.shape)}, axis={axis})")


@exercise("tensor_max")
def test_tensor_max_ties_share_the_gradient(impl):
    # Row 0 has 2 tied maxima, row 1 has 3: each gets 1/2 or 1/3 of its row's gradient.
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.0, 5.0, 1.0, 4.0]])
    u = np.array([0.6, -0.9, 1.3])
    want = np.array([[0, 0.3, 0.3, 0], [-0.3, -0.3, 0, -0.3], [0, 1.3, 0, 0]])
    expect_close(_max_backward(impl, x, 1, u), want, what="gradient split evenly among ties")


@exercise("tensor_max")
def test_tensor_max_ties_over_all_axes(impl):
    x = np.array([[4.0, 1.0, 4.0], [4.0, -2.0, 0.0]])
    want = np.array([[0.7, 0, 0.7], [0.7, 0, 0]])  # 2.1 split three ways
    expect_close(_max_backward(impl, x, None, np.array(2.1)), want, what="three tied maxima share 2.1")


@exercise("tensor_max")
def test_tensor_max_ties_along_columns(impl):
    # The same rule along axis 0, and the gradient's total is the upstream's total.
    x = np.array([[1.0, 7.0], [1.0, 7.0], [0.0, 7.0]])
    u = np.array([0.8, -1.5])
    got = _max_backward(impl, x, 0, u)
    expect_close(got, np.array([[0.4, -0.5], [0.4, -0.5], [0.0, -0.5]]), what="ties along axis 0")


# ---------------------------------------------------------------------------------------------
# reshape, transpose, index


@exercise("reshape")
@pytest.mark.parametrize("shape, new", [((2, 3, 4), (4, 6)), ((6, 4), (2, 12)), ((2, 3, 4), (3, 2, 4))])
def test_reshape_value_and_gradient(impl, shape, new):
    x = _normal(90, *shape)
    _check(
        impl,
        "reshape",
        x,
        extra=f"{new}",
        call=lambda t: impl.reshape(t, new),
        reference=lambda a: a.reshape(new),
    )


@exercise("reshape")
def test_reshape_flatten_and_back(impl):
    x = _normal(91, 2, 3, 4)
    _check(impl, "reshape", x, extra="(24,)", call=lambda t: impl.reshape(t, (24,)), reference=np.ravel)
    y = _normal(92, 12)
    _check(
        impl,
        "reshape",
        y,
        extra="(2, 3, 2)",
        call=lambda t: impl.reshape(t, (2, 3, 2)),
        reference=lambda a: a.reshape(2, 3, 2),
    )


@exercise("reshape")
def test_reshape_with_minus_one(impl):
    x = _normal(93, 3, 8)
    _check(
        impl,
        "reshape",
        x,
        extra="(4, -1)",
        call=lambda t: impl.reshape(t, (4, -1)),
        reference=lambda a: a.reshape(4, -1),
    )


@exercise("transpose")
@pytest.mark.parametrize("axes", [(1, 2, 0), (2, 0, 1)])
def test_transpose_three_cycle(impl, axes):
    # A 3-cycle is not its own inverse: the backward pass must use the inverse permutation.
    x = _normal(100, 2, 3, 4)
    _check(
        impl,
        "transpose",
        x,
        extra=f"{axes}",
        call=lambda t: impl.transpose(t, axes),
        reference=lambda a: a.transpose(axes),
    )


@exercise("transpose")
def test_transpose_four_axes(impl):
    x = _normal(101, 2, 3, 4, 5)
    axes = (3, 1, 0, 2)
    _check(
        impl,
        "transpose",
        x,
        extra=f"{axes}",
        call=lambda t: impl.transpose(t, axes),
        reference=lambda a: a.transpose(axes),
    )


@exercise("transpose")
def test_transpose_default_reverses(impl):
    _check(impl, "transpose", _normal(102, 2, 3, 4), call=lambda t: impl.transpose(t), reference=np.transpose)
    _check(impl, "transpose", _normal(103, 3, 5), call=lambda t: impl.transpose(t), reference=np.transpose)


@exercise("transpose")
def test_transpose_of_matrix(impl):
    _check(
        impl,
        "transpose",
        _normal(104, 3, 5),
        extra="(1, 0)",
        call=lambda t: impl.transpose(t, (1, 0)),
        reference=lambda a: a.T,
    )


def _check_index(impl, x, key, shown: str, **kwargs):
    _check_op(
        impl, f"Tensor{list(x.shape)}[{shown}]", lambda t: impl.index(t, key), lambda a: a[key], x, **kwargs
    )


@exercise("index")
def test_index_slices(impl):
    x = _normal(110, 4, 5)
    _check_index(impl, x, (slice(1, 3), slice(None, None, 2)), "1:3, ::2")
    _check_index(impl, _normal(111, 3, 4, 2), (Ellipsis, slice(None, None, -1)), "..., ::-1")


@exercise("index")
def test_index_integers(impl):
    x = _normal(112, 4, 3, 2)
    _check_index(impl, x, 2, "2")
    _check_index(impl, x, (-1, 1), "-1, 1")


@exercise("index")
def test_index_repeated_rows(impl):
    # Row 0 picked three times: its gradient is the sum of three rows of G.
    x = _normal(113, 4, 3)
    _check_index(impl, x, np.array([0, 2, 0, 0, 3]), "[0, 2, 0, 0, 3]")


@exercise("index")
def test_index_embedding_lookup(impl):
    # A (batch, time) array of token ids into a (vocab, dim) table, ids repeated.
    table = _normal(114, 5, 3)
    ids = np.array([[0, 4, 4, 1], [1, 1, 0, 4]])
    _check_index(impl, table, ids, "ids[2, 4]")


@exercise("index")
def test_index_pairs_of_arrays(impl):
    # logp[rows, labels], as in a cross-entropy; the pair (1, 2) appears twice.
    x = _normal(115, 3, 4)
    rows, cols = np.array([0, 1, 2, 1]), np.array([3, 2, 0, 2])
    _check_index(impl, x, (rows, cols), "rows, cols")
    _check_index(impl, _normal(116, 2, 5), (slice(None), np.array([4, 0, 4])), ":, [4, 0, 4]")


# ---------------------------------------------------------------------------------------------
# exp, log, relu


@exercise("exp")
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), ()])
def test_exp_value_and_gradient(impl, shape):
    _check(impl, "exp", _normal(120, *shape), reference=np.exp)


@exercise("exp")
def test_exp_used_twice(impl):
    x = _normal(121, 2, 5)
    _check_op(
        impl, "exp(x) + exp(x)", lambda t: _join(impl, impl.exp(t), impl.exp(t)), lambda a: 2 * np.exp(a), x
    )


@exercise("exp")
def test_exp_of_large_negative(impl):
    # e^-800 underflows to 0, and so does its gradient: no warning, no nan.
    x = np.array([-800.0, -1.0, 0.0, 2.0])
    _check(impl, "exp", x, reference=np.exp)


@exercise("log")
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), ()])
def test_log_value_and_gradient(impl, shape):
    _check(impl, "log", _positive(130, *shape), reference=np.log)


@exercise("log")
def test_log_known_slopes(impl):
    # d(log x)/dx = 1/x at 0.25, 1, 4, 10: slopes 4, 1, 0.25, 0.1
    x = impl.Tensor(np.array([0.25, 1.0, 4.0, 10.0]), requires_grad=True)
    x.grad = np.zeros(4)
    u = np.array([0.5, -2.0, 4.0, 3.0])
    _backprop(impl.log(x), u)
    expect_close(Call(x.grad, "backward of log(Tensor[4])"), u * np.array([4.0, 1.0, 0.25, 0.1]))


@exercise("log")
def test_log_used_twice(impl):
    x = _positive(131, 3, 2)
    _check_op(
        impl, "log(x) + log(x)", lambda t: _join(impl, impl.log(t), impl.log(t)), lambda a: 2 * np.log(a), x
    )


@exercise("relu")
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_relu_value_and_gradient(impl, shape):
    # Normal entries are never within the 1e-6 step of 0, where relu has its kink.
    _check(impl, "relu", _normal(140, *shape), reference=lambda a: np.maximum(a, 0))


@exercise("relu")
def test_relu_gradient_at_zero_is_zero(impl):
    x = impl.Tensor(np.array([-1.0, 0.0, 2.0, 0.0]), requires_grad=True)
    x.grad = np.zeros(4)
    out = impl.relu(x)
    expect_close(Call(out.data, "relu(Tensor[4])"), np.array([0.0, 0.0, 2.0, 0.0]))
    _backprop(out, np.array([0.3, -0.7, 1.1, 0.9]))
    expect_close(
        Call(x.grad, "backward of relu([-1, 0, 2, 0])"),
        np.array([0.0, 0.0, 1.1, 0.0]),
        what="the gradient (0 where x <= 0)",
    )


@exercise("relu")
def test_relu_used_twice(impl):
    x = _normal(141, 4, 3)
    _check_op(
        impl,
        "relu(x) + relu(x)",
        lambda t: _join(impl, impl.relu(t), impl.relu(t)),
        lambda a: 2 * np.maximum(a, 0),
        x,
    )


# ---------------------------------------------------------------------------------------------
# log_softmax, softmax


def _log_softmax_ref(a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


SOFTMAX_CASES = [((4, 5), -1), ((3, 4, 2), 0), ((2, 3, 4), 1), ((6,), 0)]


@exercise("log_softmax")
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES)
def test_log_softmax_value_and_gradient(impl, shape, axis):
    x = _normal(150, *shape) * 2
    _check(
        impl,
        "log_softmax",
        x,
        extra=f"axis={axis}",
        call=lambda t: impl.log_softmax(t, axis),
        reference=lambda a: _log_softmax_ref(a, axis),
    )


def _through(impl, name, x, upstream):
    """(value, gradient) of impl.<name>(x) along the last axis, backpropagating `upstream`."""
    t = impl.Tensor(x, requires_grad=True)
    t.grad = np.zeros_like(x)
    out = getattr(impl, name)(t, -1)
    _backprop(out, upstream)
    return out.data, t.grad


def _through_without_warnings(impl, name, x, upstream) -> Call:
    """_through with NumPy's overflow and invalid-value warnings turned into errors."""

    def forward_and_backward(x):
        return _through(impl, name, x, upstream)

    forward_and_backward.__name__ = name
    return run_without_warnings(forward_and_backward, x)


@exercise("log_softmax")
def test_log_softmax_large_logits(impl):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    u = np.array([[0.5, -1.0, 2.0], [1.0, 0.2, -0.6]])
    got = _through_without_warnings(impl, "log_softmax", x, u)
    value, grad = got.value
    l3 = np.log(3.0)
    expect_close(Call(value, got.text), np.array([[0.0, -2000.0, -1000.0], [-l3, -l3, -l3]]))
    # dL/dx = G - softmax * sum(G); softmax of row 0 is (1, 0, 0), of row 1 is 1/3 each.
    want = u - np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]) * u.sum(axis=1, keepdims=True)
    expect_close(Call(grad, f"backward of {got.text}"), want)


@exercise("log_softmax")
def test_log_softmax_is_one_op(impl):
    x = impl.Tensor(_normal(151, 3, 4), requires_grad=True)
    out = impl.log_softmax(x)
    expect(
        len(out.parents) == 1 and out.parents[0] is x,
        f"log_softmax(x): the result's parents are {len(out.parents)} tensor(s) other than x; "
        "write it as one op (op_result(data, (x,), backward_fn)) with its own backward rule",
    )


@exercise("log_softmax")
def test_log_softmax_exponentiates_to_one(impl):
    x = _normal(152, 3, 5) * 10
    out = impl.log_softmax(impl.Tensor(x), 0)
    totals = Call(np.exp(out.data).sum(axis=0), "exp(log_softmax(Tensor[3, 5], axis=0)).sum(axis=0)")
    expect_close(totals, np.ones(5), rtol=1e-12)


@exercise("softmax")
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES)
def test_softmax_value_and_gradient(impl, shape, axis):
    x = _normal(160, *shape) * 2
    _check(
        impl,
        "softmax",
        x,
        extra=f"axis={axis}",
        call=lambda t: impl.softmax(t, axis),
        reference=lambda a: np.exp(_log_softmax_ref(a, axis)),
    )


@exercise("softmax")
def test_softmax_large_logits(impl):
    # Row 3: shifting by the row's mean (-333) instead of its max leaves exp(1333): overflow.
    x = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, -1000.0, -1000.0]])
    u = np.array([[0.5, -1.0, 2.0], [1.0, 0.2, -0.6], [0.3, -0.4, 1.1]])
    got = _through_without_warnings(impl, "softmax", x, u)
    value, grad = got.value
    e = np.exp(-1.0)
    s = np.array([[1 / (1 + e), e / (1 + e), 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
    expect_close(Call(value, got.text), s)
    want = s * (u - (u * s).sum(axis=1, keepdims=True))
    expect_close(Call(grad, f"backward of {got.text}"), want)


@exercise("softmax")
def test_softmax_sums_to_one_and_ignores_shifts(impl):
    x = _normal(161, 4, 3)
    shifted = x + np.array([[10.0], [-50.0], [300.0], [0.0]])
    a = impl.softmax(impl.Tensor(x), -1).data
    b = impl.softmax(impl.Tensor(shifted), -1)
    expect_close(Call(a.sum(axis=-1), "softmax(Tensor[4, 3]).sum(axis=-1)"), np.ones(4))
    expect_close(Call(b.data, "softmax(x + row shifts)"), a, what="equal to softmax(x)")


@exercise("softmax")
def test_softmax_gradient_of_constant_upstream_is_zero(impl):
    # The outputs sum to 1 whatever x is: an upstream gradient equal along the axis changes nothing.
    x = _normal(162, 3, 4)
    _, grad = _through(impl, "softmax", x, np.array([[2.0], [-1.0], [0.5]]) * np.ones((3, 4)))
    expect_close(
        Call(grad, "backward of softmax(Tensor[3, 4]) with G constant along each row"),
        np.zeros((3, 4)),
        atol=1e-12,
    )


# ---------------------------------------------------------------------------------------------
# no_grad


@exercise("no_grad")
def test_no_grad_records_nothing(impl):
    x = impl.Tensor(_normal(170, 2, 3), requires_grad=True)
    with _grad_mode_restored(impl):
        with impl.no_grad():
            inside = impl.is_grad_enabled()
            y = _scale(impl, x, 2.0)
    expect(not inside, "inside `with no_grad():` is_grad_enabled() is still True")
    expect(
        not y.requires_grad and y.parents == () and y.backward_fn is None,
        f"an op under no_grad recorded its graph (requires_grad={y.requires_grad}, {len(y.parents)} parents)",
    )
    expect(x.requires_grad, "no_grad changed requires_grad of a leaf")
    z = _scale(impl, x, 2.0)
    expect(z.requires_grad and len(z.parents) == 1, "after the `with no_grad():` block ops record no graph")


@exercise("no_grad")
def test_no_grad_restores_after_exception(impl):
    raised = False
    with _grad_mode_restored(impl):
        try:
            with impl.no_grad():
                raise ValueError("raised inside the block")
        except ValueError:
            raised = True
        after = impl.is_grad_enabled()
    expect(raised, "no_grad swallowed an exception raised inside its block; let it propagate")
    expect(
        after,
        "grad mode is still off after an exception left the `with no_grad():` block "
        "(restore it in a `finally:`)",
    )


@exercise("no_grad")
def test_no_grad_nested(impl):
    with _grad_mode_restored(impl):
        with impl.no_grad():
            with impl.no_grad():
                pass
            between = impl.is_grad_enabled()
        after = impl.is_grad_enabled()
    expect(not between, "leaving an inner `with no_grad():` switched grad mode on inside the outer one")
    expect(after, "grad mode is off after leaving nested no_grad blocks")


@exercise("no_grad")
def test_no_grad_restores_previous_state(impl):
    # Restore what was there before, not always True.
    with _grad_mode_restored(impl):
        impl.set_grad_enabled(False)
        with impl.no_grad():
            pass
        after = impl.is_grad_enabled()
    expect(not after, "no_grad, entered with grad mode already off, switched it on when leaving")


# ---------------------------------------------------------------------------------------------
# backward


def _diamond(impl, seed):
    """x -> s = 2x -> a = 3s -> c = 5a, and out = sum(w * (c + s)): s is used on paths of
    lengths 1 and 3, so d out/dx = 2 (15 + 1) w = 32 w."""
    g = rng(seed)
    x = impl.Tensor(g.normal(size=(2, 3)), requires_grad=True)
    w = g.normal(size=(2, 3))
    calls: list = []
    s = _scale(impl, x, 2.0, calls)
    c = _scale(impl, _scale(impl, s, 3.0), 5.0)
    out = _weighted_total(impl, _join(impl, c, s), w)
    return x, s, out, w, calls


@exercise("backward")
def test_backward_shared_node_runs_once(impl):
    x, s, out, w, calls = _diamond(impl, 180)
    run(impl.backward, out)
    expect(
        len(calls) == 1, f"backward ran the backward_fn of a shared node {len(calls)} times, expected once"
    )
    expect_close(Call(x.grad, "backward(out) on a diamond graph"), 32 * w, what="x.grad")


@exercise("backward")
def test_backward_seeds_one_element_tensors(impl):
    x = impl.Tensor(np.array([[1.5]]), requires_grad=True)
    run(impl.backward, _scale(impl, x, -3.0))
    expect_close(Call(x.grad, "backward(y) for y = -3x of shape (1, 1)"), np.array([[-3.0]]))
    y = _scale(impl, impl.Tensor(_normal(181, 2, 3), requires_grad=True), 2.0)
    _expect_runtime_error(
        impl.backward, y, message="backward(y) for y of shape (2, 3) and no grad should raise RuntimeError"
    )


@exercise("backward")
def test_backward_explicit_grad(impl):
    g = rng(182)
    x = impl.Tensor(g.normal(size=(3, 2)), requires_grad=True)
    upstream = g.normal(size=(3, 2))
    y = _scale(impl, _scale(impl, x, 0.5), 3.0)
    run(impl.backward, y, upstream)
    expect_close(
        Call(x.grad, "backward(y, G) for y = 1.5 x"),
        1.5 * upstream,
        mistakes={"seed with ones instead of the grad given": np.full((3, 2), 1.5)},
    )


@exercise("backward")
def test_backward_accumulates_in_leaves(impl):
    x, s, out, w, _ = _diamond(impl, 183)
    previous = rng(184).normal(size=(2, 3))
    x.grad = previous.copy()
    impl.backward(out)
    impl.backward(out)  # the graph is kept, so a second call adds the same gradient again
    expect_close(
        Call(x.grad, "x.grad after two backward(out) calls"),
        previous + 64 * w,
        what="the old gradient plus two new ones",
        mistakes={
            "give the leaves fresh zeros at every call (they must keep, and add to, what they hold)": 32 * w,
            "keep the results' gradients from the first call (the second call pushes them again)": lambda: (
                previous + 32 * w + 2 * 32 * w
            ),
        },
    )


@exercise("backward")
def test_backward_from_a_leaf(impl):
    # A leaf is its own gradient's only source: backward(x, G) adds G to what x.grad holds.
    g = rng(188)
    x = impl.Tensor(g.normal(size=(2, 3)), requires_grad=True)
    previous, upstream = g.normal(size=(2, 3)), g.normal(size=(2, 3))
    x.grad = previous.copy()
    run(impl.backward, x, upstream)
    run(impl.backward, x, upstream)
    expect_close(Call(x.grad, "x.grad after backward(x, G) twice"), previous + 2 * upstream)
    # A leaf whose grad is None gets zeros, then G added: storing G itself as its grad would
    # make the next backward add into the caller's array.
    fresh = impl.Tensor(g.normal(size=(2, 3)), requires_grad=True)
    run(impl.backward, fresh, upstream)
    expect(
        fresh.grad is not upstream and not np.shares_memory(fresh.grad, upstream),
        "backward(x, G) on a leaf whose grad was None stored G itself as x.grad: the next backward "
        "would add into the caller's G; give the leaf zeros and add G into them",
    )
    run(impl.backward, fresh, upstream)
    expect_close(Call(fresh.grad, "x.grad after backward(x, G) twice, from grad None"), 2 * upstream)


@exercise("backward")
def test_backward_leaves_no_gradient_on_results(impl):
    x, s, out, w, _ = _diamond(impl, 185)
    constant = impl.Tensor(np.ones((2, 3)))
    out2 = _weighted_total(impl, _join(impl, s, constant), w)
    impl.backward(out2)
    expect(
        s.grad is None and out2.grad is None,
        "after backward, results (non-leaf tensors) must have grad None, as in PyTorch",
    )
    expect(constant.grad is None, "backward gave a gradient to a tensor with requires_grad=False")
    expect(len(s.parents) == 1, "backward removed the parents of a result; the graph must be kept")
    expect_close(Call(x.grad, "backward(sum(w * (2x + 1)))"), 2 * w)


@exercise("backward")
def test_backward_same_parent_twice(impl):
    x = impl.Tensor(_normal(186, 4), requires_grad=True)
    w = _normal(187, 4)
    run(impl.backward, _weighted_total(impl, _join(impl, x, x, x), w))
    expect_close(Call(x.grad, "backward(sum(w * (x + x + x)))"), 3 * w)


@exercise("backward", timeout=30)
def test_backward_deep_chain_without_recursion(impl):
    # 3000 nodes in a chain: deeper than Python's default recursion limit of 1000.
    x = impl.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x
    for _ in range(3000):
        y = _scale(impl, y, 1.001)
    w = np.array([0.5, 2.0])
    try:
        run(impl.backward, _weighted_total(impl, y, w))
    except RecursionError:
        raise AssertionError(
            "backward hit Python's recursion limit on a chain of 3000 ops; find the topological "
            "order with a loop and an explicit stack instead of recursion"
        ) from None
    expect_close(Call(x.grad, "backward through a chain of 3000 ops y = 1.001 y"), 1.001**3000 * w)


@exercise("backward")
def test_backward_requires_grad(impl):
    y = _scale(impl, impl.Tensor(np.array(2.0)), 3.0)  # no leaf requires grad
    _expect_runtime_error(
        impl.backward, y, message="backward(y) for a y that does not require grad should raise RuntimeError"
    )
