"""Verifier for logistic regression by gradient descent: steps=0 gives the zero start; short
runs (several lr, l2, float32 and float64, odd shapes) and the default 500 steps are compared
with the exact full-batch trajectory computed here in float64; long runs (lr=1, 400 steps,
within 1e-8 of the optimum on these data) are compared with the optimum of the same objective
found by Newton's method in float64, with and without l2. The data are never separable (a few
points repeat with the other label), so the optimum is finite. Outputs: shapes (d,) and (),
X's dtype and device, no grad; X and y untouched.

A failed comparison names the classic mistake it matches, if any, each the same trajectory with
one thing changed: the bias penalised, the penalty's gradient 2·l2·w, l2 ignored, the gradient
summed, the squared-error gradient (p − y)·p(1 − p), w and b updated one after the other, the
bias never updated, the sign flipped, one step too many or too few."""

import pytest
import torch

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)


def _data(n, d, seed, device, dtype=torch.float32, flips=4):
    """X (n + flips, d) with a small mean; y ~ Bernoulli(sigmoid(X w* + b*)); the first `flips`
    rows repeated with the opposite label, so no hyperplane separates the classes."""
    g = generator(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.2
    w = torch.randn(d, generator=g, dtype=torch.float64) * 1.5
    b = torch.randn((), generator=g, dtype=torch.float64) * 0.5
    y = (
        torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(X @ w + b)
    ).double()
    X = torch.cat([X, X[:flips]])
    y = torch.cat([y, 1 - y[:flips]])
    return X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _trajectory(
    X,
    y,
    lr,
    steps,
    l2,
    *,
    l2_bias=False,
    l2_factor=1.0,
    mean=True,
    order="together",
    learn_bias=True,
    sign=1.0,
    mse=False,
):
    """(w, b) after `steps` full-batch steps in float64 on the CPU, one thing changed per
    keyword."""
    X = X.detach().to("cpu", torch.float64)
    y = y.detach().to("cpu", torch.float64)
    n, d = X.shape
    w, b = torch.zeros(d, dtype=torch.float64), torch.zeros((), dtype=torch.float64)

    def grads(w, b):
        p = torch.sigmoid(X @ w + b)
        r = (p - y) * p * (1 - p) if mse else p - y
        gw = X.T @ r
        gb = r.sum()
        if mean:
            gw, gb = gw / n, gb / n
        gw = gw + l2_factor * l2 * w
        if l2_bias:
            gb = gb + l2_factor * l2 * b
        return sign * gw, sign * gb

    for _ in range(steps):
        gw, gb = grads(w, b)
        if order == "together":
            w, b = w - lr * gw, (b - lr * gb) if learn_bias else b
        elif order == "w_first":
            w = w - lr * gw
            b = b - lr * grads(w, b)[1]
        else:
            b = b - lr * gb
            w = w - lr * grads(w, b)[0]
    return w, b


def _newton(X, y, l2, iters=60):
    """The minimiser of mean BCE + (l2/2)‖w‖² (bias not penalised), float64, by Newton."""
    X = X.detach().to("cpu", torch.float64)
    y = y.detach().to("cpu", torch.float64)
    n, d = X.shape
    A = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1)
    reg = torch.diag(torch.tensor([l2] * d + [0.0], dtype=torch.float64))
    theta = torch.zeros(d + 1, dtype=torch.float64)
    for _ in range(iters):
        p = torch.sigmoid(A @ theta)
        g = A.T @ (p - y) / n + reg @ theta
        H = (A * (p * (1 - p))[:, None]).T @ A / n + reg
        theta = theta - torch.linalg.solve(H, g)
    return theta[:-1], theta[-1]


SAME_POINT = (
    "w and b were updated one after the other (the second gradient saw the first update): "
    "compute both gradients at the same (w, b), then update both"
)


def _variants(X, y, lr, steps, l2, index):
    mistakes = [
        (
            "the bias was penalised too: the L2 term (l2/2)·‖w‖² covers the weights only",
            {"l2_bias": True},
        ),
        (
            "the penalty's gradient is 2·l2·w: the gradient of (l2/2)·‖w‖² is l2·w",
            {"l2_factor": 2.0},
        ),
        (
            "the penalty's gradient is l2·w/2: the gradient of (l2/2)·‖w‖² is l2·w",
            {"l2_factor": 0.5},
        ),
        ("l2 was ignored: the result matches l2=0", {"l2_factor": 0.0}),
        (
            (
                "the gradient sums over the rows instead of averaging: the objective is the mean "
                "BCE, so divide Xᵀ(p − y) by n"
            ),
            {"mean": False},
        ),
        (
            (
                "this is the squared-error gradient (p − y)·p(1 − p): for BCE through a sigmoid the "
                "gradient with respect to the logit is just p − y"
            ),
            {"mse": True},
        ),
        (SAME_POINT, {"order": "w_first"}),
        (SAME_POINT, {"order": "b_first"}),
        ("the bias was never updated: it is learned too", {"learn_bias": False}),
        (
            "the update has the wrong sign (gradient ascent): w ← w − lr·∂L/∂w",
            {"sign": -1.0},
        ),
    ]
    found = [
        (why, lambda kw=kw: _trajectory(X, y, lr, steps, l2, **kw)[index])
        for why, kw in mistakes
    ]
    for other in (steps - 1, steps + 1):
        if other >= 1:
            found.append(
                (
                    (
                        f"the result is that of {other} steps, not steps={steps}: run exactly "
                        "`steps` updates"
                    ),
                    lambda o=other: _trajectory(X, y, lr, o, l2)[index],
                )
            )
    return found


def _fit(impl, X, y, *args, **kwargs):
    before = X.detach().clone(), y.detach().clone()
    out = call(
        impl.fit_logistic_regression,
        X,
        y,
        *args,
        **kwargs,
        what="fit_logistic_regression",
    )
    assert_unchanged(before[0], X, "X")
    assert_unchanged(before[1], y, "y")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"fit_logistic_regression must return (weight, bias), got {type(out).__name__}"
    )
    w, b = out
    d = X.shape[1]
    for name, t, shape in (("weight", w, (d,)), ("bias", b, ())):
        assert isinstance(t, torch.Tensor), (
            f"{name}: expected a tensor, got {type(t).__name__}"
        )
        assert tuple(t.shape) == shape, (
            f"{name}: shape expected {shape}, got {tuple(t.shape)}"
            + (" (the bias is a 0-dim tensor)" if name == "bias" else "")
        )
        assert t.dtype == X.dtype, (
            f"{name}: dtype expected {X.dtype} (X's), got {t.dtype}"
        )
        assert t.device.type == X.device.type, (
            f"{name}: device expected {X.device.type} (X's), got {t.device.type}"
        )
        assert not t.requires_grad, (
            f"{name} requires grad: return it without grad (detach it, or update under "
            "torch.no_grad())"
        )
    return w, b


def _compare(w, b, ew, eb, X, y, lr, steps, l2, context, atol, rtol):
    for name, got, want, index in (("weight", w, ew, 0), ("bias", b, eb, 1)):
        assert_close_diagnosed(
            got,
            want.to(device=X.device, dtype=X.dtype),
            lambda index=index: _variants(X, y, lr, steps, l2, index),
            what=name,
            atol=atol,
            rtol=rtol,
            context=context,
        )


def test_zero_steps_returns_the_start(impl, device):
    X, y = _data(9, 3, seed=0, device=device)
    w, b = _fit(impl, X, y, steps=0, l2=0.5)
    assert torch.all(w == 0) and torch.all(b == 0), (
        f"steps=0 must return the start, w = 0 and b = 0; got weight {w.tolist()}, bias "
        f"{b.item():.4g}"
    )


@pytest.mark.parametrize(
    "steps,lr,l2",
    [(1, 0.1, 0.0), (2, 0.5, 0.3), (5, 0.2, 0.1), (3, 1.0, 0.0), (4, 0.3, 1.0)],
    ids=["1", "2-l2", "5-l2", "3-lr1", "4-l2big"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trajectory(impl, device, steps, lr, l2, dtype):
    X, y = _data(13, 4, seed=steps + 20, device=device, dtype=dtype)
    w, b = _fit(impl, X, y, lr=lr, steps=steps, l2=l2)
    ew, eb = _trajectory(X, y, lr, steps, l2)
    atol, rtol = tolerance(dtype) if dtype != torch.float64 else (1e-8, 1e-7)
    context = (
        f"X {tuple(X.shape)} {dtype}, lr={lr}, steps={steps}, l2={l2}, compared with the exact "
        "trajectory"
    )
    _compare(w, b, ew, eb, X, y, lr, steps, l2, context, atol, rtol)


def test_defaults(impl, device):
    X, y = _data(30, 3, seed=3, device=device)
    w, b = _fit(impl, X, y)  # lr=0.1, steps=500, l2=0.0
    ew, eb = _trajectory(X, y, 0.1, 500, 0.0)
    context = "defaults (lr=0.1, steps=500, l2=0), compared with the exact trajectory"
    _compare(w, b, ew, eb, X, y, 0.1, 500, 0.0, context, 2e-5, 2e-4)
    w, b = _fit(impl, X, y, 0.3, 7, 0.2)
    ew, eb = _trajectory(X, y, 0.3, 7, 0.2)
    context = "lr, steps and l2 passed positionally (0.3, 7, 0.2)"
    _compare(w, b, ew, eb, X, y, 0.3, 7, 0.2, context, 1e-5, 1e-4)


@pytest.mark.parametrize(
    "shape,l2,dtype",
    [
        ((60, 3), 0.0, torch.float32),
        ((40, 2), 0.1, torch.float32),
        ((50, 5), 0.5, torch.float64),
    ],
    ids=["60x3", "40x2-l2", "50x5-l2-f64"],
)
def test_reaches_newton_optimum(impl, device, shape, l2, dtype):
    X, y = _data(*shape, seed=shape[1] + 30, device=device, dtype=dtype)
    w, b = _fit(impl, X, y, lr=1.0, steps=400, l2=l2)
    ew, eb = _newton(X, y, l2)
    context = (
        f"X {tuple(X.shape)} {dtype}, l2={l2}, lr=1.0, steps=400, compared with the optimum "
        "found by Newton's method"
    )
    _compare(w, b, ew, eb, X, y, 1.0, 400, l2, context, 1e-4, 1e-3)
