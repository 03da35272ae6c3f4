"""Verifier for MLP: its parameters by position against an nn.Sequential of Linear / ReLU layers
run in float64 with the same weights (2-D and 3-D inputs, no hidden layer, gradients), eval mode
with dropout > 0, and dropout in training tested by behaviour: with all-ones weights and a
positive input, the output counts the hidden units kept, so the scale 1 / (1 - p) is checked
exactly, and the keep rate and independence per unit and per row statistically (bounds a
correct dropout misses less than once in a million runs)."""

import itertools

import pytest
import torch
from torch import nn

from cards.checks import assert_close, assert_close_diagnosed, call, generator, randn


def make(impl, in_features, hidden, out_features, device, dropout=0.0, seed=0):
    model = call(
        impl.MLP, in_features, list(hidden), out_features, dropout=dropout, what="MLP"
    )
    sizes = [in_features, *hidden, out_features]
    want = []
    for a, b in itertools.pairwise(sizes):
        want += [(b, a), (b,)]
    params = list(model.parameters())
    got = [tuple(p.shape) for p in params]
    assert got == want, (
        f"MLP({in_features}, {list(hidden)}, {out_features}): list(parameters()) must be "
        f"[W0, b0, W1, b1, ...] with nn.Linear shapes (weight (out, in), then bias (out,)) "
        f"and nothing else: expected shapes {want}, got {got}"
    )
    model = model.to(device)
    g = generator(100 + seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return model


def reference(model, in_features, hidden, out_features, relu_out=False, relu=True):
    """nn.Sequential of Linear / ReLU in float64 with the attempt's weights, by position."""
    sizes = [in_features, *hidden, out_features]
    layers = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b, dtype=torch.float64))
        if relu and (k < len(sizes) - 2 or relu_out):
            layers.append(nn.ReLU())
    seq = nn.Sequential(*layers)
    linears = [m for m in seq if isinstance(m, nn.Linear)]
    params = list(model.parameters())
    with torch.no_grad():
        for k, lin in enumerate(linears):
            lin.weight.copy_(params[2 * k].detach().cpu().double())
            lin.bias.copy_(params[2 * k + 1].detach().cpu().double())
    return seq


def _variants(model, x, sizes):
    xd = x.detach().cpu().double()
    return {
        "a ReLU follows the output layer too: nothing follows the last Linear (it returns "
        "logits)": reference(model, *sizes, relu_out=True)(xd).detach(),
        "there is no ReLU between the layers: a ReLU follows each hidden Linear": reference(
            model, *sizes, relu=False
        )(xd).detach(),
    }


SHAPES = [
    ((7, [16, 9], 5), (6, 7)),
    ((4, [11], 3), (2, 5, 4)),
    ((5, [], 3), (4, 5)),
    ((3, [8, 8, 6], 1), (9, 3)),
]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(
    "case", SHAPES, ids=["2-hidden", "3d-input", "no-hidden", "3-hidden"]
)
def test_matches_sequential(impl, device, case, mode):
    sizes, xshape = case
    model = make(impl, *sizes, device, seed=len(xshape))
    model.train(mode == "train")
    x = randn(xshape, seed=3, device=device, scale=2.0)
    out = model(x)
    expected = reference(model, *sizes)(x.cpu().double())
    assert_close_diagnosed(
        out,
        expected.detach().to(device=device, dtype=x.dtype),
        lambda: _variants(model, x, sizes),
        context=f"MLP{sizes}, {mode} mode, dropout=0, x {tuple(xshape)}",
    )


def test_float64_and_gradients(impl, device):
    sizes = (6, [10, 7], 4)
    model = make(impl, *sizes, device, seed=5).double()
    x = randn((5, 6), seed=8, device=device, dtype=torch.float64).requires_grad_()
    up = randn((5, 4), seed=9, dtype=torch.float64)
    (model(x) * up.to(device)).sum().backward()
    ref = reference(model, *sizes)
    xr = x.detach().cpu().requires_grad_()
    (ref(xr) * up).sum().backward()
    assert x.grad is not None, "no gradient reached the input: is the output detached?"
    assert_close(x.grad, xr.grad.to(device), what="gradient of x")
    linears = [m for m in ref if isinstance(m, nn.Linear)]
    for k, p in enumerate(model.parameters()):
        want = (linears[k // 2].weight, linears[k // 2].bias)[k % 2].grad
        name = f"gradient of parameter {k} ({'W' if k % 2 == 0 else 'b'}{k // 2})"
        assert p.grad is not None, f"{name}: none (is that parameter used?)"
        assert_close(p.grad, want.to(device), what=name)


def test_eval_mode_has_no_dropout(impl, device):
    sizes = (6, [12, 8], 3)
    model = make(impl, *sizes, device, dropout=0.5, seed=6)
    model.eval()
    x = randn((16, 6), seed=10, device=device, scale=2.0)
    out = model(x)
    again = model(x)
    expected = reference(model, *sizes)(x.cpu().double()).detach()
    try:
        assert_close(
            out, expected.to(device=device, dtype=x.dtype), context="eval mode"
        )
    except AssertionError as exc:
        if isinstance(out, torch.Tensor) and torch.equal(out, again):
            raise  # deterministic, so wrong for another reason than dropout
        raise AssertionError(
            f"{exc}\nlikely bug: dropout was applied in eval mode (two calls differ): after "
            "model.eval() the MLP is deterministic (dropout only while self.training)"
        ) from None


def _counting_model(impl, device, hidden, p):
    """in=1, all-ones weights, zero biases, identity between hidden layers: the output for x=1
    is (number of units kept through every dropout) / (1 - p)^depth."""
    model = call(impl.MLP, 1, list(hidden), 1, dropout=p, what="MLP").to(device)
    params = list(model.parameters())
    with torch.no_grad():
        for k, q in enumerate(params):
            if k % 2 == 1:
                q.zero_()
            elif 0 < k < len(params) - 2:
                q.copy_(torch.eye(*q.shape))
            else:
                q.fill_(1.0)
    return model.train()


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_dropout_in_training(impl, device, p):
    H, N = 32, 4000
    torch.manual_seed(1234)
    model = _counting_model(impl, device, [H], p)
    x = torch.ones(N, 1, device=device)
    out = model(x).detach().double().cpu().flatten()
    counts = out * (1 - p)
    nearest = counts.round()
    assert torch.allclose(counts, nearest, atol=1e-3), (
        f"dropout p={p}: with all-ones weights the output is (units kept) / (1 - p), but "
        f"output * (1 - p) is not a whole number (e.g. {counts[(counts - nearest).abs().argmax()].item():.4f})"
        + (
            "\nlikely bug: the kept values were not scaled by 1 / (1 - p) (inverted dropout)"
            if torch.allclose(out, out.round(), atol=1e-3)
            else ""
        )
    )
    assert nearest.min() >= 0 and nearest.max() <= H, (
        f"dropout p={p}: more units kept than exist"
    )
    q = 1 - p
    mean, sd = H * N * q, (H * N * p * q) ** 0.5
    total = nearest.sum().item()
    assert abs(total - mean) < 6 * sd, (
        f"dropout p={p}: {total / (H * N):.4f} of the hidden units were kept, expected "
        f"{q} (each unit is zeroed with probability p)"
    )
    var = nearest.var().item()
    if var == 0:
        raise AssertionError(
            f"dropout p={p}: every row kept exactly the same units: the mask must be drawn "
            "independently for every element (every row and unit), not once for the batch"
        )
    ratio = var / (H * p * q)
    assert 0.7 < ratio < 1.3, (
        f"dropout p={p}: the number of units kept per row has variance {var:.2f}, expected "
        f"{H * p * q:.2f} (independent units)"
        + (
            "\nlikely bug: dropout zeroes whole rows (dropout on the input, or on the "
            "output layer), not each hidden unit"
            if ((nearest == 0) | (nearest == H)).all()
            else ""
        )
    )
    again = model(x).detach().cpu().flatten()
    assert not torch.equal(again, out.to(again.dtype)), (
        "dropout: two calls gave the same mask: draw a new one at every forward"
    )


def test_dropout_after_every_hidden_layer(impl, device):
    H, N, p = 32, 4000, 0.5
    torch.manual_seed(4321)
    model = _counting_model(impl, device, [H, H], p)
    out = model(torch.ones(N, 1, device=device)).detach().double().cpu().flatten()
    # kept through both layers: Binomial(H, (1-p)^2) / (1-p)^2
    counts = out * (1 - p) ** 2
    nearest = counts.round()
    q = (1 - p) ** 2
    ok = torch.allclose(counts, nearest, atol=1e-3)
    var = nearest.var().item() if ok else float("nan")
    assert ok and 0.7 < var / (H * q * (1 - q)) < 1.3, (
        f"MLP(1, [{H}, {H}], 1, dropout={p}) with identity between the hidden layers: the "
        f"output should be (units kept by both dropouts) / (1 - p)^2; got values such as "
        f"{out[:6].tolist()}: apply dropout after every hidden ReLU, each once"
    )
