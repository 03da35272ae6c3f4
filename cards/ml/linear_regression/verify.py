"""Verifier for linear regression by gradient descent: steps=0 gives the zero start; short runs
(1 to 5 steps, several lr, float32 and float64, odd shapes) are compared with the exact
full-batch trajectory computed here in float64; the default 500 steps are compared with the
least-squares solution of torch.linalg.lstsq (with a column of ones for the bias) on
well-conditioned data. Outputs: shapes (d,) and (), X's dtype and device, no grad; X and y
untouched.

A failed trajectory comparison names the classic mistake it matches, if any, each the same
trajectory with one thing changed: the gradient without the 2 of the square, summed instead of
averaged, w and b updated one after the other, the bias never updated, the sign flipped, one
step too many or too few."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)


def _data(n, d, seed, device, dtype=torch.float32, offset=0.3, noise=0.1):
    """Well-conditioned X (n, d) (unit variance, a small mean) and y = X w* + b* + noise."""
    g = generator(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + offset
    w = torch.randn(d, generator=g, dtype=torch.float64) * 2
    b = torch.randn((), generator=g, dtype=torch.float64) * 2
    y = X @ w + b + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _trajectory(
    X,
    y,
    lr,
    steps,
    *,
    factor=2.0,
    mean=True,
    order="together",
    learn_bias=True,
    sign=1.0,
):
    """(w, b) after `steps` full-batch steps, float64 on the CPU, with one thing changed per
    keyword: factor (2 of the square), mean (1/n), order ('together', 'w_first', 'b_first')."""
    X = X.detach().to("cpu", torch.float64)
    y = y.detach().to("cpu", torch.float64)
    n, d = X.shape
    scale = factor / n if mean else factor
    w, b = torch.zeros(d, dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    step = sign * lr * scale
    for _ in range(steps):
        r = X @ w + b - y
        if order == "together":
            w, b = w - step * (X.T @ r), (b - step * r.sum()) if learn_bias else b
        elif order == "w_first":
            w = w - step * (X.T @ r)
            b = b - step * (X @ w + b - y).sum()
        else:  # b first
            b = b - step * r.sum()
            w = w - step * (X.T @ (X @ w + b - y))
    return w, b


def _variants(X, y, lr, steps, index):
    mistakes = [
        (
            (
                "the gradient is missing the factor 2 from the square: d/dw mean(r²) = "
                "(2/n)·Xᵀr (without the 2 it is the gradient of ½·mean(r²))"
            ),
            {"factor": 1.0},
        ),
        (
            (
                "the gradient sums over the rows instead of averaging: the objective is the mean, "
                "so divide by n"
            ),
            {"mean": False},
        ),
        (
            (
                "w and b were updated one after the other (the second gradient saw the first "
                "update): compute both gradients at the same (w, b), then update both"
            ),
            {"order": "w_first"},
        ),
        (
            (
                "w and b were updated one after the other (the second gradient saw the first "
                "update): compute both gradients at the same (w, b), then update both"
            ),
            {"order": "b_first"},
        ),
        ("the bias was never updated: it is learned too", {"learn_bias": False}),
        (
            "the update has the wrong sign (gradient ascent): w ← w − lr·∂L/∂w",
            {"sign": -1.0},
        ),
    ]
    found = [
        (why, lambda kw=kw: _trajectory(X, y, lr, steps, **kw)[index])
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
                    lambda o=other: _trajectory(X, y, lr, o)[index],
                )
            )
    return found


def _fit(impl, X, y, **kwargs):
    before = X.detach().clone(), y.detach().clone()
    out = call(impl.fit_linear_regression, X, y, **kwargs, what="fit_linear_regression")
    assert_unchanged(before[0], X, "X")
    assert_unchanged(before[1], y, "y")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"fit_linear_regression must return (weight, bias), got {type(out).__name__}"
    )
    w, b = out
    _n, d = X.shape
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


def test_zero_steps_returns_the_start(impl, device):
    X, y = _data(9, 3, seed=0, device=device)
    w, b = _fit(impl, X, y, steps=0)
    assert torch.all(w == 0) and torch.all(b == 0), (
        f"steps=0 must return the start, w = 0 and b = 0; got weight {w.tolist()}, bias "
        f"{b.item():.4g}"
    )


@pytest.mark.parametrize(
    "steps,lr",
    [(1, 0.1), (2, 0.1), (5, 0.05), (3, 0.3)],
    ids=["1", "2", "5-lr0.05", "3-lr0.3"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trajectory(impl, device, steps, lr, dtype):
    X, y = _data(13, 4, seed=steps + 10, device=device, dtype=dtype)
    w, b = _fit(impl, X, y, lr=lr, steps=steps)
    ew, eb = _trajectory(X, y, lr, steps)
    atol, rtol = tolerance(dtype)
    if dtype == torch.float64:
        atol, rtol = 1e-8, 1e-7
    context = (
        f"X (13, 4) {dtype}, lr={lr}, steps={steps}, compared with the exact trajectory"
    )
    for name, got, want, index in (("weight", w, ew, 0), ("bias", b, eb, 1)):
        assert_close_diagnosed(
            got,
            want.to(device=device, dtype=dtype),
            lambda index=index: _variants(X, y, lr, steps, index),
            what=name,
            atol=atol,
            rtol=rtol,
            context=context,
        )


@pytest.mark.parametrize(
    "shape,dtype",
    [((64, 3), torch.float32), ((40, 1), torch.float32), ((50, 5), torch.float64)],
    ids=["64x3", "40x1", "50x5-f64"],
)
def test_defaults_reach_least_squares(impl, device, shape, dtype):
    X, y = _data(*shape, seed=shape[1], device=device, dtype=dtype)
    w, b = _fit(impl, X, y)  # lr=0.1, steps=500
    A = torch.cat(
        [X.detach().cpu().double(), torch.ones(shape[0], 1, dtype=torch.float64)], 1
    )
    sol = torch.linalg.lstsq(A, y.detach().cpu().double()[:, None]).solution[:, 0]
    context = f"X {shape} {dtype}, defaults (lr=0.1, steps=500), vs torch.linalg.lstsq"
    for name, got, want, index in (("weight", w, sol[:-1], 0), ("bias", b, sol[-1], 1)):
        assert_close_diagnosed(
            got,
            want.to(device=device, dtype=dtype),
            lambda index=index: _variants(X, y, 0.1, 500, index),
            what=name,
            atol=1e-4,
            rtol=1e-3,
            context=context,
        )


def test_lr_and_steps_are_used(impl, device):
    X, y = _data(20, 2, seed=5, device=device)
    w, b = _fit(impl, X, y, lr=0.02, steps=7)
    ew, eb = _trajectory(X, y, 0.02, 7)
    assert_close(
        w,
        ew.to(device=device, dtype=X.dtype),
        what="weight",
        context="lr=0.02, steps=7",
    )
    assert_close(
        b, eb.to(device=device, dtype=X.dtype), what="bias", context="lr=0.02, steps=7"
    )
