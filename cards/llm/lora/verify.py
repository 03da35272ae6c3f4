"""Verifier for LoRALinear: against the float64 formula base(x) + alpha/r * x A^T B^T with the
attempt's own lora_A and a lora_B set to seeded non-zero values (as after training); which
parameters get gradients; dropout by its effect (the base untouched, the LoRA path's input
zeroed or scaled by 1/(1-p), recovered by least squares); merge/unmerge; a few training steps.

On a failed comparison the message names the classic mistake the output matches (a scaling of
alpha, r/alpha or 1; dropout on the base, after lora_A or on the LoRA output; the update added
again after merge())."""

import math

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)

# (in_features, out_features, r, alpha): alpha/r, alpha, r/alpha and 1 all differ.
CONFIGS = [(16, 12, 4, 8), (10, 20, 8, 16), (7, 5, 2, 1)]
CONFIG_IDS = ["in16-out12-r4-a8", "in10-out20-r8-a16", "in7-out5-r2-a1"]


def _base(in_f, out_f, bias, seed):
    base = torch.nn.Linear(in_f, out_f, bias=bias)
    g = generator(seed)
    with torch.no_grad():
        base.weight.copy_(torch.randn(out_f, in_f, generator=g) / math.sqrt(in_f))
        if bias:
            base.bias.copy_(torch.randn(out_f, generator=g))
    return base


def _make(
    impl, in_f, out_f, r, alpha, device, *, bias=True, dropout=0.0, seed=0, dtype=None
):
    """The attempt's layer around a seeded base; checks the structure the contract promises.
    Returns the layer (on device) and the base's original weight and bias (CPU, float64)."""
    base = _base(in_f, out_f, bias, seed)
    w0 = base.weight.detach().double().clone()
    b0 = base.bias.detach().double().clone() if bias else None
    module = call(impl.LoRALinear, base, r=r, alpha=alpha, dropout=dropout)
    kept = getattr(module, "base", None)
    assert isinstance(kept, torch.nn.Linear), (
        "self.base must be the nn.Linear passed in (keep it as it is, frozen)"
    )
    same = tuple(kept.weight.shape) == (out_f, in_f) and torch.equal(
        kept.weight.detach().double(), w0
    )
    assert same, (
        "self.base must hold the given layer's weight unchanged at construction"
    )
    for name, shape in (("lora_A", (r, in_f)), ("lora_B", (out_f, r))):
        p = getattr(module, name, None)
        assert isinstance(p, torch.nn.Parameter), f"`{name}` must be an nn.Parameter"
        assert tuple(p.shape) == shape, (
            f"`{name}` with in_features={in_f}, out_features={out_f}, r={r}: expected shape "
            f"{shape}, got {tuple(p.shape)}"
        )
    if dtype is not None:
        module = module.to(dtype=dtype)
    return module.to(device), w0, b0


def _set_b(module, seed, scale=1.0):
    """lora_B to seeded non-zero values, as after some training."""
    b = module.lora_B
    with torch.no_grad():
        b.copy_(randn(tuple(b.shape), seed, scale=scale / math.sqrt(b.shape[1])))


def _params(module):
    """lora_A, lora_B on the CPU in float64 (detached)."""
    return (
        module.lora_A.detach().to("cpu", torch.float64),
        module.lora_B.detach().to("cpu", torch.float64),
    )


def _formula(x, w0, b0, a, b, scaling):
    if x.device.type != "cpu" or x.dtype != torch.float64:
        x = x.detach().to("cpu", torch.float64)
    out = x @ w0.T + scaling * (x @ a.T @ b.T)
    return out if b0 is None else out + b0


def _base_out(x, w0, b0):
    out = x.detach().to("cpu", torch.float64) @ w0.T
    return out if b0 is None else out + b0


def _scaling_variants(x, w0, b0, a, b, r, alpha):
    right = alpha / r
    found = {}
    for wrong, why in (
        (
            alpha,
            f"the update is scaled by alpha ({alpha:g}), not alpha / r ({right:g})",
        ),
        (
            r / alpha,
            f"the update is scaled by r / alpha ({r / alpha:g}): the scaling is alpha / r",
        ),
        (
            1.0,
            f"the update is not scaled: multiply it by scaling = alpha / r ({right:g})",
        ),
        (
            2 * right,
            "the update is added twice (e.g. once merged into the weight and once as the LoRA path)",
        ),
    ):
        if abs(wrong - right) > 1e-9:
            found[why] = _formula(x, w0, b0, a, b, wrong)
    found["the base's output is missing: forward returns base(x) + the LoRA update"] = (
        _formula(x, 0 * w0, None, a, b, right)
    )
    return found


def _check_formula(out, x, module, w0, b0, r, alpha, context, **tol):
    a, b = _params(module)
    expected = _formula(x, w0, b0, a, b, alpha / r).to(device=x.device, dtype=x.dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _scaling_variants(x, w0, b0, a, b, r, alpha),
        context=context,
        **tol,
    )


# -- structure --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_structure_and_init(impl, device, bias):
    in_f, out_f, r, alpha = CONFIGS[0]
    module, _, _ = _make(impl, in_f, out_f, r, alpha, device, bias=bias)
    base = module.base
    trainable_base = [n for n, p in base.named_parameters() if p.requires_grad]
    assert not trainable_base, (
        f"the base is not frozen: base.{trainable_base[0]} requires a gradient; set "
        "requires_grad_(False) on every parameter of the base"
    )
    lora = {id(module.lora_A), id(module.lora_B)}
    others = [
        n for n, p in module.named_parameters() if p.requires_grad and id(p) not in lora
    ]
    assert not others, (
        f"only lora_A and lora_B may be trainable; also trainable: {others}"
    )
    missing = [n for n in ("lora_A", "lora_B") if not getattr(module, n).requires_grad]
    assert not missing, f"{missing[0]} must be trainable (requires_grad=True)"
    registered = {id(p) for p in module.parameters()}
    assert lora <= registered, (
        "lora_A and lora_B must be registered parameters of the module (nn.Parameter attributes)"
    )
    assert bool((module.lora_B.detach() == 0).all()), (
        "lora_B must start at zero, so that the layer equals the base before training "
        "(a random lora_B changes the pretrained model's outputs at step 0)"
    )
    assert bool((module.lora_A.detach() != 0).any()), (
        "lora_A must be random, not zeros: with lora_A and lora_B both zero, neither gets a "
        "gradient (each one's gradient goes through the other) and LoRA never learns"
    )
    assert bool(torch.isfinite(module.lora_A.detach()).all()), "lora_A holds nan or inf"


def test_defaults_r8_alpha16(impl, device):
    base = _base(12, 6, True, 1)
    w0, b0 = base.weight.detach().double().clone(), base.bias.detach().double().clone()
    module = call(impl.LoRALinear, base).to(device)
    assert tuple(module.lora_A.shape) == (8, 12), (
        f"default r is 8: lora_A expected (8, 12), got {tuple(module.lora_A.shape)}"
    )
    _set_b(module, 2)
    module.eval()
    x = randn((5, 12), 3, device)
    _check_formula(
        module(x), x, module, w0, b0, 8, 16, "defaults r=8, alpha=16 (scaling 2)"
    )


# -- forward ----------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_equals_base_at_init(impl, device, config):
    in_f, out_f, r, alpha = config
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device)
    x = randn((3, 4, in_f), 5, device)
    out = module(x)
    assert_close(
        out,
        _base_out(x, w0, b0).to(device=device, dtype=x.dtype),
        context="a freshly built layer must equal its base: lora_B starts at zero",
    )


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("shape", [(2, 5), (7,), ()], ids=["BT", "N", "1-D"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_matches_formula(impl, device, config, shape, bias):
    in_f, out_f, r, alpha = config
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, bias=bias, seed=6)
    _set_b(module, 7)
    module.eval()
    x = randn((*shape, in_f), 8, device)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "x")
    _check_formula(
        out,
        x,
        module,
        w0,
        b0,
        r,
        alpha,
        f"x of shape {tuple(x.shape)}, r={r}, alpha={alpha}",
    )


def test_float64(impl, device):
    in_f, out_f, r, alpha = CONFIGS[1]
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, dtype=torch.float64)
    _set_b(module, 9)
    module.eval()
    x = randn((3, in_f), 10, device, torch.float64)
    _check_formula(module(x), x, module, w0, b0, r, alpha, "float64 layer and input")


# -- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_gradients_reach_only_lora_params(impl, device, config):
    in_f, out_f, r, alpha = config
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, seed=11)
    _set_b(module, 12)  # with lora_B == 0 the gradient of lora_A would be 0 too
    module.train()  # dropout is 0: training mode changes nothing
    x = randn((2, 3, in_f), 13, device).requires_grad_()
    upstream = randn((2, 3, out_f), 14, device)
    out = module(x)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require a gradient: is the LoRA path detached?"
    )
    (out * upstream).sum().backward()

    a, b = (p.requires_grad_() for p in _params(module))
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    (_formula(x64, w0, b0, a, b, alpha / r) * upstream.double().cpu()).sum().backward()
    for name, p, ref in (("lora_A", module.lora_A, a), ("lora_B", module.lora_B, b)):
        assert p.grad is not None, (
            f"no gradient reached {name}: is it part of the forward?"
        )
        assert_close(
            p.grad,
            ref.grad.to(device=device, dtype=p.dtype),
            what=f"gradient of {name}",
            atol=1e-5,
            rtol=1e-4,
        )
    assert x.grad is not None, "no gradient reached the input x"
    assert_close(
        x.grad,
        x64.grad.to(device=device, dtype=x.dtype),
        what="gradient of x",
        atol=1e-5,
        rtol=1e-4,
    )
    for name, p in module.base.named_parameters():
        assert p.grad is None or not torch.any(p.grad != 0), (
            f"a gradient reached base.{name}: the base must be frozen"
        )


# -- dropout ----------------------------------------------------------------------------------
def test_dropout_is_off_in_eval_mode(impl, device):
    in_f, out_f, r, alpha = CONFIGS[0]
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, dropout=0.5, seed=15)
    _set_b(module, 16)
    module.eval()
    x = randn((6, in_f), 17, device)
    torch.manual_seed(0)
    first = module(x)
    second = module(x)
    a, b = _params(module)
    expected = _formula(x, w0, b0, a, b, alpha / r).to(device)
    atol, rtol = tolerance(torch.float32)
    random = not torch.allclose(first, second, atol=atol, rtol=rtol)
    assert not random, (
        "in eval mode the output is random: dropout is still active after .eval() "
        "(F.dropout defaults to training=True: pass training=self.training, or use nn.Dropout)"
    )
    _check_formula(
        first, x, module, w0, b0, r, alpha, "eval mode, dropout=0.5: no dropout"
    )
    assert_close(second, expected.to(second.dtype), context="eval mode, second call")


def test_dropout_in_training_leaves_the_base_alone(impl, device):
    # lora_B is still zero: whatever the LoRA path's dropout does, the output is base(x).
    in_f, out_f, r, alpha = CONFIGS[0]
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, dropout=0.5, seed=18)
    module.train()
    x = randn((8, in_f), 19, device)
    torch.manual_seed(1)
    out = module(x)
    expected = _base_out(x, w0, b0).to(device=device, dtype=torch.float32)
    atol, rtol = tolerance(torch.float32)
    ok = isinstance(out, torch.Tensor) and out.shape == expected.shape
    if ok and not torch.allclose(out, expected, atol=atol, rtol=rtol):
        raise AssertionError(
            "training mode, dropout=0.5, lora_B still zero: the output must equal base(x), "
            "but it does not: dropout was applied to the base's input or output too; the "
            "base must see x itself, only the input of the LoRA path is dropped"
        )
    assert_close(out, expected, context="training mode, dropout=0.5, lora_B zero")


def _mask_form(values, full, atol=1e-3):
    """Whether each value is 0 or the matching entry of `full` (within tolerance)."""
    zero = values.abs() <= atol * (1 + full.abs())
    kept = (values - full).abs() <= atol * (1 + full.abs())
    return bool((zero | kept).all()), zero & ~kept


def test_dropout_in_training_hits_the_lora_input(impl, device):
    # in=6 <= r=8 <= out=10: the map z -> scaling * B A z is injective, so the dropped-out
    # input z of the LoRA path can be recovered from the output by least squares.
    in_f, out_f, r, alpha, p = 6, 10, 8, 16, 0.25
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, dropout=p, seed=20)
    _set_b(module, 21, scale=3.0)
    module.train()
    x = randn((64, in_f), 22, device)
    torch.manual_seed(2)
    out = module(x)
    assert isinstance(out, torch.Tensor) and out.shape == (64, out_f), (
        f"output: expected a tensor of shape (64, {out_f})"
    )
    a, b = _params(module)
    s = alpha / r
    x64 = x.to("cpu", torch.float64)
    delta = out.detach().to("cpu", torch.float64) - _base_out(x, w0, b0)  # (64, out)
    m = s * b @ a  # (out, in)
    # (64, in): what the LoRA path was fed
    z = torch.linalg.lstsq(m, delta.T).solution.T
    ok, dropped = _mask_form(z, x64 / (1 - p))
    if ok:
        frac = dropped.double().mean().item()
        assert abs(frac - p) < 0.15, (
            f"dropout={p}: {frac:.0%} of the LoRA path's inputs were zeroed, expected about "
            f"{p:.0%}"
            + (
                "; they were zeroed with probability 1 - p: p is the probability of zeroing"
                if abs(frac - (1 - p)) < 0.15
                else ""
            )
        )
        return
    why = ""
    if torch.allclose(z, x64, atol=1e-3, rtol=1e-3):
        why = (
            f"dropout={p} in training mode did nothing: the LoRA path's input must be "
            "dropped out (nn.Dropout, active in training mode)"
        )
    elif _mask_form(z, x64)[0]:
        why = (
            "inputs of the LoRA path were zeroed but the kept ones were not scaled by "
            "1 / (1 - p), as nn.Dropout does (inverted dropout)"
        )
    elif _mask_form(torch.linalg.lstsq(s * b, delta.T).solution.T, x64 @ a.T / (1 - p))[
        0
    ]:
        why = (
            "dropout was applied after lora_A (to the rank-r hidden), not to the input x "
            "of the LoRA path"
        )
    elif _mask_form(delta, x64 @ m.T / (1 - p))[0]:
        why = "dropout was applied to the LoRA path's output, not to its input x"
    raise AssertionError(
        f"training mode, dropout={p}: the LoRA update is not scaling * B A dropout(x) for "
        "any dropout mask on x" + (f"\nlikely bug: {why}" if why else "")
    )


# -- merge / unmerge --------------------------------------------------------------------------
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_merge_and_unmerge(impl, device, dropout, bias):
    in_f, out_f, r, alpha = CONFIGS[0]
    module, w0, b0 = _make(
        impl, in_f, out_f, r, alpha, device, bias=bias, dropout=dropout, seed=23
    )
    _set_b(module, 24)
    module.eval()
    x = randn((2, 5, in_f), 25, device)
    a, b = _params(module)
    s = alpha / r
    unmerged = module(x)
    _check_formula(unmerged, x, module, w0, b0, r, alpha, "eval mode, before merge()")

    module.merge()
    merged_w = (w0 + s * b @ a).to(device)
    tol = {"atol": 1e-5, "rtol": 1e-4}
    assert_close_diagnosed(
        module.base.weight.detach(),
        merged_w.float(),
        lambda: {
            "merge() did not change base.weight: fold scaling * lora_B @ lora_A into it": w0,
            "merge() added lora_B @ lora_A without the scaling alpha / r": w0 + b @ a,
            "merge() subtracted the update: merge adds it, unmerge subtracts it": w0
            - s * b @ a,
        },
        what="base.weight after merge()",
        **tol,
    )
    assert not module.base.weight.requires_grad, (
        "after merge() base.weight requires a gradient: update it in place under "
        "torch.no_grad() so that the base stays frozen"
    )
    out = module(x)
    expected = _formula(x, w0, b0, a, b, s).to(device=device, dtype=torch.float32)
    assert_close_diagnosed(
        out,
        expected,
        lambda: {
            "after merge() the LoRA path is still added: the update is counted twice "
            "(once in base.weight, once in forward); skip the LoRA path while merged": _formula(
                x, w0, b0, a, b, 2 * s
            )
        },
        context="eval mode, after merge(): the merged layer must equal the unmerged one",
        **tol,
    )

    module.unmerge()
    assert_close(
        module.base.weight.detach(),
        w0.float().to(device),
        what="base.weight after merge() then unmerge()",
        context="unmerge() must give the original weight back",
        **tol,
    )
    assert not module.base.weight.requires_grad, (
        "after unmerge() base.weight requires a gradient: the base must stay frozen"
    )
    assert_close(
        module(x), expected, context="eval mode, after merge() then unmerge()", **tol
    )


# -- training ---------------------------------------------------------------------------------
def test_training_reduces_the_loss(impl, device):
    # The target is the base plus a rank-2 change: LoRA of rank 4 can fit it.
    in_f, out_f, r, alpha = 16, 8, 4, 8
    module, w0, b0 = _make(impl, in_f, out_f, r, alpha, device, seed=26)
    module.train()
    x = randn((128, in_f), 27, device)
    change = randn((out_f, 2), 28).double() @ randn((2, in_f), 29).double()
    target = (_base_out(x, w0, b0) + x.double().cpu() @ change.T).float().to(device)
    params = [module.lora_A, module.lora_B]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    losses = []
    # Adam written out (torch.optim's first step is slow to import)
    for step in range(1, 61):
        loss = (module(x) - target).pow(2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, (m, v) in zip(params, grads, moments):
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                p -= (
                    0.03
                    * (m / (1 - 0.9**step))
                    / ((v / (1 - 0.999**step)).sqrt() + 1e-8)
                )
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (
        f"training lora_A and lora_B with Adam for 60 steps on a low-rank target: the loss "
        f"went from {losses[0]:.4g} to {losses[-1]:.4g}, expected it to fall below 30% of "
        "the start (are lora_A and lora_B both zero at init, or detached from the output?)"
    )
    assert_close(
        module.base.weight.detach(),
        w0.float().to(device),
        what="base.weight after training",
        context="the base must stay frozen",
    )
