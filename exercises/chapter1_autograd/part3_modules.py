# %% [markdown]
# # Chapter 1, part 3: modules, a loss, optimizers, and an MLP trained on the digits
#
# Reading: chapters/chapter1_autograd/part3_modules.md
#
# Fill in each function or class, then run the cell below it: `check(name)` runs that
# exercise's tests here and prints a verdict. `python -m grader chapter1/part3` grades the file.
#
# Everything here runs on YOUR tensor engine: the import below is your part 2 (when graded
# with `--impl solutions`, the reference part 2). If an op there is still a stub, the
# exercises that use it cannot pass yet.
#
# Conventions used throughout:
# - a batch of inputs is a Tensor of shape (batch, features), one example per row;
# - a Linear layer computes x @ weight + bias with weight of shape (in_features, out_features);
# - a classifier returns logits (no softmax); labels are an int ndarray of class indices.

# %%
from typing import Any, Iterable

import numpy as np
from chapter1_autograd.part2_tensor_engine import Tensor, no_grad
from jaxtyping import Float, Int

from grader.check import check

MAIN = __name__ == "__main__"


# %%
class Parameter(Tensor):
    """A Tensor that a Module learns: always requires_grad=True.

    Parameter(data) copies `data` (a number, nested list or ndarray) into a new float64
    leaf tensor, exactly as Tensor(data, requires_grad=True) does; being its own class lets
    Module.parameters() tell learned weights apart from other tensors a module may hold
    (constants, masks, cached inputs). Ops on a Parameter return plain Tensors.
    """

    def __init__(self, data: Any) -> None:
        raise NotImplementedError("Parameter.__init__")


if MAIN:
    check(Parameter)


# %%
class Module:
    """The base class of every layer and model, as torch.nn.Module.

    A subclass stores its Parameters and sub-Modules as plain attributes in __init__
    (`self.weight = Parameter(...)`, `self.layers = [Linear(...), ...]`) and defines
    `forward`; calling the module, `model(x)`, runs `forward(x)`. There is no registry:
    `parameters()` finds the parameters by looking through the attributes.
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """model(x) is model.forward(x): pass every argument and keyword on, return its result."""
        raise NotImplementedError("Module.__call__")

    def parameters(self) -> list[Parameter]:
        """Every Parameter this module holds, directly or inside sub-modules, as a list.

        Looks through the instance attributes (`vars(self)`) in the order they were set:
        - a Parameter is collected;
        - a Module contributes its own parameters, found the same way (recursively);
        - a list or tuple is looked through item by item (its items may be Modules or
          Parameters);
        - anything else (plain Tensors, arrays, numbers, strings) is ignored.
        The result is in that depth-first order, and a Parameter reached more than once (a
        weight shared by two layers, a module listed twice) appears once, where it is first
        met. Optimizers rely on this: a shared weight listed twice would be updated twice.
        """
        raise NotImplementedError("Module.parameters")

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter (as `parameters()` finds them) to None, so
        that the next backward starts afresh (backward ADDS into leaf gradients; arrays of
        zeros would do too, None is what PyTorch does and saves the memory)."""
        raise NotImplementedError("Module.zero_grad")


if MAIN:
    check(Module)


# %%
class Linear(Module):
    """An affine layer: y = x @ weight + bias.

    weight: Parameter of shape (in_features, out_features), so that a batch of row vectors
        multiplies it on the left; drawn from He (Kaiming) uniform initialisation,
        U(-b, b) with b = sqrt(6 / in_features), whose variance 2 / in_features keeps the
        scale of activations steady through ReLU layers.
    bias: Parameter of shape (out_features,), zeros; or None when bias=False.
    rng: the generator the weights are drawn from, as it is (not re-seeded, not copied): two
        layers made one after the other from the same generator get different weights.
    """

    def __init__(
        self, in_features: int, out_features: int, rng: np.random.Generator, bias: bool = True
    ) -> None:
        raise NotImplementedError("Linear.__init__")

    def forward(self, x: Float[Tensor, "*batch in_features"]) -> Float[Tensor, "*batch out_features"]:
        """x @ weight + bias (no bias if there is none), for any number of leading axes."""
        raise NotImplementedError("Linear.forward")


if MAIN:
    check(Linear)


# %%
class MLP(Module):
    """A multi-layer perceptron: Linear layers with ReLU between them.

    sizes: [d_in, h_1, ..., h_k, d_out]; layer i is Linear(sizes[i], sizes[i + 1], rng), all
    drawn from the same rng in order (layer 0 first), stored in the list `self.layers`: the
    layers are exactly those that consecutive Linear(..., rng) calls would make. Every layer but the
    last is followed by ReLU; the last returns raw scores (logits), which may be negative.
    """

    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        raise NotImplementedError("MLP.__init__")

    def forward(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_out"]:
        """The logits: layer 1, ReLU, layer 2, ReLU, ..., the last layer (no ReLU)."""
        raise NotImplementedError("MLP.forward")


if MAIN:
    check(MLP)


# %%
def cross_entropy(
    logits: Float[Tensor, "batch classes"], labels: Int[np.ndarray, " batch"]
) -> Float[Tensor, ""]:
    """The mean over the batch of -log softmax(logits)[label]: a 0-d Tensor.

    logits: one row of unnormalised class scores per example; labels: the class index of
    each example. Computed with log_softmax along the class axis (stable for logits of
    ±1000) and integer-array indexing, so that its backward pass comes from the engine.
    """
    raise NotImplementedError("cross_entropy")


if MAIN:
    check(cross_entropy)


# %%
def accuracy(logits: Float[Tensor, "batch classes"], labels: Int[np.ndarray, " batch"]) -> float:
    """The fraction of examples whose highest logit is their label, as a Python float.

    Ties go to the lowest class index (as np.argmax). Reads logits.data: builds no graph.
    """
    raise NotImplementedError("accuracy")


if MAIN:
    check(accuracy)


# %%
class SGD:
    """Stochastic gradient descent with momentum, in PyTorch's form.

    params: the Parameters to update (e.g. model.parameters()), kept as a list in order.
    Each step, for every parameter p whose p.grad is not None:
        v = momentum * v + p.grad      (v starts at zeros; with momentum 0, v = p.grad)
        p.data = p.data - lr * v
    A parameter whose p.grad is None is skipped entirely: neither it nor its v changes
    (its velocity does not decay on that step).
    The update reads p.grad as it is at the time of the step and must not change it.
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0) -> None:
        raise NotImplementedError("SGD.__init__")

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (the Parameter objects the
        model holds are the ones that change)."""
        raise NotImplementedError("SGD.step")

    def zero_grad(self) -> None:
        """Set every parameter's grad to None, so that the next backward starts afresh
        (backward ADDS into leaf gradients; zeros would do too)."""
        raise NotImplementedError("SGD.zero_grad")


if MAIN:
    check(SGD)


# %%
class Adam:
    """Adam (Kingma & Ba, 2015), as torch.optim.Adam (no weight decay).

    One counter t for the optimizer: the number of calls to step() so far, this one
    included (t = 1 on the first step), the same for every parameter. For every parameter
    p whose p.grad is not None, with g = p.grad:
        m = beta1 * m + (1 - beta1) * g            (m and v start at zeros)
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)     (bias correction)
        p.data = p.data - lr * m_hat / (sqrt(v_hat) + eps)
    Parameters with p.grad None are skipped entirely (p, m and v unchanged), but t still
    counts that step for them: a parameter that first gets a gradient on step 3 is
    corrected with t = 3. (torch.optim.Adam counts steps per parameter instead, only those
    where it had a gradient; the two agree whenever every parameter has a gradient.)
    The update does not change p.grad.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        raise NotImplementedError("Adam.__init__")

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient, in place."""
        raise NotImplementedError("Adam.step")

    def zero_grad(self) -> None:
        """Set every parameter's grad to None (as SGD.zero_grad)."""
        raise NotImplementedError("Adam.zero_grad")


if MAIN:
    check(Adam)


# %%
def train_mlp(
    x_train: Float[np.ndarray, "n features"],
    y_train: Int[np.ndarray, " n"],
    x_test: Float[np.ndarray, "m features"],
    y_test: Int[np.ndarray, " m"],
    hidden: list[int],
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    n_classes: int = 10,
) -> tuple[MLP, dict[str, list[float]]]:
    """Train MLP([features, *hidden, n_classes]) with Adam(lr) on minibatches of the
    cross-entropy, and return (model, history).

    One generator, rng = np.random.default_rng(seed), and nothing else random: first
    MLP([features, *hidden, n_classes], rng) draws the weights, then every epoch draws a
    new order of the training set with rng.permutation(n) (a new one each epoch, not one
    order reused; rng.shuffle of the previous epoch's order, or shuffling the arrays
    themselves each epoch, is as good and passes too). The epoch walks through that order
    in batches of `batch_size`, the last one smaller when batch_size does not divide n (it
    is trained on, not dropped): one Adam step per batch, ceil(n / batch_size) steps per
    epoch. For each batch: loss, zero_grad, backward, step.

    At the end of each epoch, history["loss"] gets the plain mean of the epoch's batch
    losses (each batch's loss as computed before its step; the smaller last batch counts
    as one batch like the others, so this is not the loss of the whole training set) and
    history["test_accuracy"] the accuracy on (x_test, y_test), evaluated under no_grad.
    Both are lists of Python floats, one per epoch.
    """
    raise NotImplementedError("train_mlp")


if MAIN:
    check(train_mlp)


# %% [markdown]
# ## Try it: the digits
#
# A 64-64-10 MLP trained with Adam on 75% of the 8x8 digits (scikit-learn's 1,797 real ones
# when it is installed), all of it running on your tensor engine.

# %%
if MAIN:
    import time

    from coursedata import load_digits, train_test_split

    digits = load_digits()
    x_train, y_train, x_test, y_test = train_test_split(digits, test_fraction=0.25, seed=0)
    start = time.perf_counter()
    model, history = train_mlp(
        x_train, y_train, x_test, y_test, hidden=[64], epochs=10, batch_size=32, lr=1e-2, seed=0
    )
    seconds = time.perf_counter() - start
    for epoch, (loss, acc) in enumerate(zip(history["loss"], history["test_accuracy"]), start=1):
        print(f"epoch {epoch:2d}  train loss {loss:.4f}  held-out accuracy {acc:.1%}")
    with no_grad():  # evaluation needs no graph
        wrong = model(Tensor(x_test)).data.argmax(axis=1) != y_test
    print(f"{digits.source} digits, a 64-64-10 MLP trained in {seconds:.2f} s")
    print(f"misread {np.sum(wrong)} of {len(y_test)} held-out digits, whose true labels are {y_test[wrong]}")
