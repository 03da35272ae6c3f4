"""Verifier for the linear probe. The reference probe is full-batch gradient descent from zero,
computed here in float64: the attempt's (weight, bias) must reach its objective (mean CE +
(wd/2)·‖W‖², bias not decayed, evaluated here in float64 on the attempt's parameters) and its
training accuracy (within 0.05), with the defaults and with other lr / steps. On those short
runs the objective may exceed the reference's by 1e-3 + 1% (another start, e.g. nn.Linear's
random init, is fair); with weight decay and enough steps the reference has converged to the
unique optimum, and the objective must be within 1e-3 of it whatever the start or optimiser.
Also: num_classes larger than the labels present, float64 features, features that require grad
(they must get none), outputs' shapes, dtype and device, inputs untouched.

When the objective is missed, the message names the classic mistake whose probe the attempt's
weight and centred bias equal, if any: the bias decayed too, the penalty's gradient 2·wd·W,
weight decay ignored."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import assert_unchanged, call, diagnose, generator


def _data(n, D, C, seed, device, dtype=torch.float32, present=None):
    """Gaussian class clusters with unequal priors (so the bias matters) and an offset."""
    g = generator(seed)
    present = C if present is None else present
    prior = torch.tensor([0.45, 0.25, 0.15, 0.1, 0.05][:present], dtype=torch.float64)
    y = torch.multinomial(prior / prior.sum(), n, replacement=True, generator=g)
    y[:present] = torch.arange(present)  # every present class at least once
    means = torch.randn(C, D, generator=g, dtype=torch.float64)
    X = means[y] + torch.randn(n, D, generator=g, dtype=torch.float64) + 0.5
    return X.to(device=device, dtype=dtype), y.to(device)


def _gd(X, y, C, lr, steps, wd, *, bias_decay=False, wd_factor=1.0):
    """The reference probe (or a mistaken one) in float64 on the CPU."""
    X = X.detach().to("cpu", torch.float64)
    y = y.cpu()
    n, D = X.shape
    Y = F.one_hot(y, C).double()
    W, b = torch.zeros(C, D, dtype=torch.float64), torch.zeros(C, dtype=torch.float64)
    for _ in range(steps):
        z = X @ W.T + b
        # softmax by hand: cheaper than the op's
        e = (z - z.amax(dim=1, keepdim=True)).exp()
        G = (e / e.sum(dim=1, keepdim=True) - Y) / n  # thread pool on a busy machine
        gb = G.sum(0) + (wd * b if bias_decay else 0.0)
        W, b = W - lr * (G.T @ X + wd_factor * wd * W), b - lr * gb
    return W, b


def _objective(X, y, W, b, wd):
    X = X.detach().to("cpu", torch.float64)
    W = W.detach().to("cpu", torch.float64)
    b = b.detach().to("cpu", torch.float64)
    z = X @ W.T + b
    m = z.amax(dim=1, keepdim=True)
    lse = (m + (z - m).exp().sum(dim=1, keepdim=True).log())[:, 0]
    ce = (lse - z.gather(1, y.cpu()[:, None])[:, 0]).mean()
    return float(ce + 0.5 * wd * W.pow(2).sum())


def _accuracy(X, y, W, b):
    X = X.detach().to("cpu", torch.float64)
    logits = X @ W.detach().to("cpu", torch.float64).T + b.detach().to(
        "cpu", torch.float64
    )
    return float((logits.argmax(1) == y.cpu()).double().mean())


def _fit(impl, X, y, C, **kwargs):
    before = X.detach().clone(), y.detach().clone()
    out = call(impl.fit_linear_probe, X, y, **kwargs, what="fit_linear_probe")
    assert_unchanged(before[0], X, "features")
    assert_unchanged(before[1], y, "labels")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"fit_linear_probe must return (weight, bias), got {type(out).__name__}"
    )
    W, b = out
    D = X.shape[1]
    for name, t, shape in (("weight", W, (C, D)), ("bias", b, (C,))):
        assert isinstance(t, torch.Tensor), (
            f"{name}: expected a tensor, got {type(t).__name__}"
        )
        note = ""
        if name == "weight" and t.dim() == 2 and t.shape[0] != C:
            note = (
                f" (C must be num_classes={kwargs['num_classes']} when it is given, else "
                "labels.max() + 1)"
                if kwargs.get("num_classes") is not None
                else " (C = labels.max() + 1 when num_classes is None)"
            )
        if name == "weight" and tuple(t.shape) == (D, C) and C != D:
            note = " (weight is (C, D): logits = features @ weight.T + bias)"
        assert tuple(t.shape) == shape, (
            f"{name}: shape expected {shape}, got {tuple(t.shape)}{note}"
        )
        assert t.dtype == X.dtype, (
            f"{name}: dtype expected {X.dtype} (the features'), got {t.dtype}"
        )
        assert t.device.type == X.device.type, (
            f"{name}: device expected {X.device.type} (the features'), got {t.device.type}"
        )
    return W, b


def _check_reaches(W, b, X, y, C, lr, steps, wd, context, converged=False):
    """The objective within 1e-3 of the reference probe's where that probe has converged;
    before convergence 1% more is allowed (another start, e.g. nn.Linear's random init, has
    not forgotten it yet)."""
    rW, rb = _gd(X, y, C, lr, steps, wd)
    got, ref = _objective(X, y, W, b, wd), _objective(X, y, rW, rb, wd)
    allowed = ref + 1e-3 + (0.0 if converged else 0.01 * ref)
    assert math.isfinite(got) and got <= allowed, (
        f"[{context}] the objective mean CE + (wd/2)·‖W‖² at the returned (weight, bias) is "
        f"{got:.6g}; full-batch gradient descent from zero with the same lr and steps reaches "
        f"{ref:.6g} (at most {allowed:.6g} accepted)"
        + _diagnosis(W, b, X, y, C, lr, steps, wd)
    )
    acc, ref_acc = _accuracy(X, y, W, b), _accuracy(X, y, rW, rb)
    assert acc >= ref_acc - 0.05, (
        f"[{context}] training accuracy {acc:.3f}; the reference probe reaches {ref_acc:.3f}"
    )
    return rW, rb


def _flat(W, b):
    """weight and centred bias (a constant added to every bias changes nothing) as one vector."""
    W = W.detach().to("cpu", torch.float64)
    b = b.detach().to("cpu", torch.float64)
    return torch.cat([W.flatten(), b - b.mean()])


def _diagnosis(W, b, X, y, C, lr, steps, wd):
    if not wd:
        return ""
    mistakes = [
        (
            (
                "the bias was decayed too (e.g. one optimiser param group with weight_decay for "
                "every parameter): the penalty (wd/2)·‖W‖² covers the weight only"
            ),
            {"bias_decay": True},
        ),
        (
            (
                "the penalty's gradient is 2·wd·W (a penalty of wd·‖W‖²): the gradient of "
                "(wd/2)·‖W‖² is wd·W"
            ),
            {"wd_factor": 2.0},
        ),
        (
            "weight_decay was ignored: the result matches weight_decay=0",
            {"wd_factor": 0.0},
        ),
    ]
    expected = _flat(*_gd(X, y, C, lr, steps, wd))  # only on failure
    variants = [
        (why, lambda kw=kw: _flat(*_gd(X, y, C, lr, steps, wd, **kw)))
        for why, kw in mistakes
    ]
    return diagnose(_flat(W, b), expected, variants, atol=2e-3, rtol=1e-2)


def test_defaults(impl, device):
    X, y = _data(60, 8, 4, seed=0, device=device)
    W, b = _fit(impl, X, y, 4)
    _check_reaches(
        W, b, X, y, 4, 0.1, 500, 0.0, "defaults: lr=0.1, steps=500, no weight decay"
    )


@pytest.mark.parametrize(
    "lr,steps,wd", [(0.5, 50, 0.0), (0.2, 120, 0.05)], ids=["lr0.5-50", "lr0.2-120-wd"]
)
def test_other_settings_reach_the_reference(impl, device, lr, steps, wd):
    X, y = _data(45, 6, 3, seed=1, device=device)
    W, b = _fit(impl, X, y, 3, lr=lr, steps=steps, weight_decay=wd)
    _check_reaches(
        W, b, X, y, 3, lr, steps, wd, f"lr={lr}, steps={steps}, weight_decay={wd}"
    )


@pytest.mark.parametrize(
    "wd,dtype", [(0.1, torch.float32), (0.3, torch.float64)], ids=["0.1", "0.3-f64"]
)
def test_weight_decay_optimum(impl, device, wd, dtype):
    # lr=1.0 for 300 steps: gradient descent is within 1e-5 of the optimum here (with wd > 0
    # the optimum is unique, up to a constant shift of the bias), so the objective must be
    # within 1e-3 of the optimum's, whatever the start or the optimiser.
    X, y = _data(60, 8, 4, seed=2, device=device, dtype=dtype)
    W, b = _fit(impl, X, y, 4, lr=1.0, steps=300, weight_decay=wd)
    context = f"weight_decay={wd}, lr=1.0, steps=300, {dtype} features, converged"
    _check_reaches(W, b, X, y, 4, 1.0, 300, wd, context, converged=True)


def test_num_classes_wins_over_labels(impl, device):
    X, y = _data(40, 5, 5, seed=3, device=device, present=3)  # labels 0, 1, 2 only
    W, b = _fit(impl, X, y, 5, num_classes=5, lr=0.3, steps=100, weight_decay=0.1)
    _check_reaches(W, b, X, y, 5, 0.3, 100, 0.1, "num_classes=5, labels 0..2 only")
    W, b = _fit(impl, X, y, 3, num_classes=None, lr=0.3, steps=100)
    _check_reaches(W, b, X, y, 3, 0.3, 100, 0.0, "num_classes=None, labels 0..2: C = 3")


def test_features_are_frozen(impl, device):
    X, y = _data(36, 6, 3, seed=4, device=device)
    X = X.clone().requires_grad_()  # as an encoder's output would arrive
    W, b = _fit(impl, X, y, 3, lr=0.3, steps=100, weight_decay=0.05)
    assert X.grad is None, (
        "the features received a gradient: they are frozen, detach them before training "
        "(features.detach())"
    )
    _check_reaches(W, b, X, y, 3, 0.3, 100, 0.05, "features with requires_grad=True")
