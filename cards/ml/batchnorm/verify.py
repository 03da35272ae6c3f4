"""Verifier for BatchNorm2d: against torch.nn.BatchNorm2d run in float64 on the CPU with the same
state (the attempt's parameters and buffers copied in), through several training steps (output,
running statistics, counter), then in eval; with other eps and momentum, in float64, through its
gradients, and by loading state dicts strictly in both directions.

On a failed comparison the message names the classic mistake the values match: eval using the
batch statistics, the unbiased variance used to normalise or the biased one stored, momentum
weighting the old value, the running statistics replaced instead of blended, statistics per sample
or per position instead of per channel, eps outside the square root, the batch statistics detached
from the graph."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
)

KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
TOL = {"atol": 1e-5, "rtol": 1e-4}


def _x(shape, seed, device, dtype=torch.float32, scale=2.0):
    """A batch whose channels have their own means and spreads, so per-channel statistics
    differ from per-sample or whole-batch ones."""
    c = shape[1]
    g = generator(seed)
    mean = torch.randn(c, generator=g, dtype=torch.float64) * 3
    spread = torch.rand(c, generator=g, dtype=torch.float64) * 1.5 + 0.5
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    x = x * spread.view(1, c, 1, 1) + mean.view(1, c, 1, 1)
    return x.to(device=device, dtype=dtype)


def _state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _make(impl, c, device, dtype=torch.float32, seed=0, **kwargs):
    """The attempt's module (state checked), with seeded weight and bias, and torch's
    nn.BatchNorm2d in float64 on the CPU holding the same state."""
    module = call(impl.BatchNorm2d, c, **kwargs, what="BatchNorm2d")
    _check_state(module, c)
    module = module.to(device=device, dtype=dtype)
    g = generator(100 + seed)
    with torch.no_grad():
        module.weight.copy_(torch.rand(c, generator=g) + 0.5)
        module.bias.copy_(torch.randn(c, generator=g))
    ref = torch.nn.BatchNorm2d(c, **kwargs).double()
    ref.load_state_dict(_state(module))
    module.train()
    ref.train()
    return module, ref


def _check_state(module, c):
    assert isinstance(module, torch.nn.Module), (
        f"BatchNorm2d must be an nn.Module, got {type(module).__name__}"
    )
    keys = list(module.state_dict().keys())
    assert sorted(keys) == sorted(KEYS), (
        f"state dict keys expected exactly nn.BatchNorm2d's {KEYS}, got {keys} (weight and bias "
        "are nn.Parameters; running_mean, running_var and num_batches_tracked are buffers, "
        "registered with register_buffer)"
    )
    params = sorted(n for n, _ in module.named_parameters())
    assert params == ["bias", "weight"], (
        f"the learnable parameters must be exactly weight and bias, got {params} (the running "
        "statistics are buffers, not parameters)"
    )
    sd = module.state_dict()
    for name, init in (
        ("weight", 1.0),
        ("bias", 0.0),
        ("running_mean", 0.0),
        ("running_var", 1.0),
    ):
        t = sd[name]
        assert tuple(t.shape) == (c,), (
            f"{name}: shape expected ({c},), got {tuple(t.shape)}"
        )
        assert torch.all(t == init), f"{name} must start at {init:g} everywhere"
    nbt = sd["num_batches_tracked"]
    assert nbt.dtype == torch.int64 and nbt.shape == () and int(nbt) == 0, (
        "num_batches_tracked must be a 0-dim int64 tensor starting at 0, as in nn.BatchNorm2d, "
        f"got {nbt!r}"
    )


def _stats_variants(x, ref_before, momentum, eps):
    """{why: (output, running_mean, running_var)} in float64 for a training step's mistakes."""
    x = x.detach().cpu().double()
    w = ref_before["weight"].double().view(1, -1, 1, 1)
    b = ref_before["bias"].double().view(1, -1, 1, 1)
    rm, rv = ref_before["running_mean"].double(), ref_before["running_var"].double()
    n = x.numel() // x.shape[1]
    dims = (0, 2, 3)
    mean = x.mean(dims)
    var_b = x.var(dims, unbiased=False)
    var_u = var_b * n / (n - 1)

    def out(mu, var, inside=True):
        mu = mu.view(1, -1, 1, 1) if mu.dim() == 1 else mu
        var = var.view(1, -1, 1, 1) if var.dim() == 1 else var
        d = torch.sqrt(var + eps) if inside else torch.sqrt(var) + eps
        return (x - mu) / d * w + b

    m = momentum
    right_out = out(mean, var_b)
    right_rm = (1 - m) * rm + m * mean
    right_rv = (1 - m) * rv + m * var_u
    per_sample = (
        x.mean((2, 3), keepdim=True),
        x.var((2, 3), unbiased=False, keepdim=True),
    )
    per_pos = x.mean(0, keepdim=True), x.var(0, unbiased=False, keepdim=True)
    return {
        "the unbiased variance (n - 1) was used to normalise: training normalises with the "
        "biased variance, mean((x - mean)²), and stores the unbiased one": (
            out(mean, var_u),
            right_rm,
            (1 - m) * rv + m * var_u,
        ),
        "the biased variance was stored in running_var: the running variance is updated with "
        "the unbiased one, var * n / (n - 1)": (
            right_out,
            right_rm,
            (1 - m) * rv + m * var_b,
        ),
        "momentum weights the old value: running = (1 - momentum) * running + momentum * "
        "batch, not momentum * running + (1 - momentum) * batch": (
            right_out,
            m * rm + (1 - m) * mean,
            m * rv + (1 - m) * var_u,
        ),
        "the running statistics were replaced by the batch's, not blended with momentum": (
            right_out,
            mean,
            var_u,
        ),
        "the statistics were taken per sample over (H, W) (that is InstanceNorm): BatchNorm "
        "takes them per channel over (N, H, W)": (out(*per_sample), None, None),
        "the statistics were taken over the batch dim only, per (c, h, w) position: BatchNorm2d "
        "takes them per channel over (N, H, W)": (out(*per_pos), None, None),
        "eps was added outside the square root: (x - mean) / sqrt(var + eps)": (
            out(mean, var_b, inside=False),
            right_rm,
            right_rv,
        ),
    }


def _eval_variants(x, ref_state, eps):
    x = x.detach().cpu().double()
    w = ref_state["weight"].double().view(1, -1, 1, 1)
    b = ref_state["bias"].double().view(1, -1, 1, 1)
    mean = x.mean((0, 2, 3), keepdim=True)
    var_b = x.var((0, 2, 3), unbiased=False, keepdim=True)
    return {
        "eval used the batch statistics: in eval mode normalise with running_mean and "
        "running_var (and do not update them)": (x - mean) / torch.sqrt(var_b + eps) * w
        + b,
        "eval used the running statistics without the affine weight and bias": (
            x - ref_state["running_mean"].double().view(1, -1, 1, 1)
        )
        / torch.sqrt(ref_state["running_var"].double().view(1, -1, 1, 1) + eps),
    }


def _pick(variants, i):
    return {why: v[i] for why, v in variants.items() if v[i] is not None}


def _train_steps(
    module, ref, shapes, device, dtype, seed, momentum, eps, context, start=0
):
    for step, shape in enumerate(shapes, start):
        x = _x(shape, seed + step, device, dtype)
        before_x = x.clone()
        before = _state(ref)
        out = module(x)
        assert_unchanged(before_x, x, "x")
        expected = ref(x.detach().cpu().double())
        ctx = f"{context}, training step {step + 1}, x of shape {shape}"
        variants = _stats_variants(x, before, momentum, eps)
        tol = TOL  # float64 too: the dtype is checked, the precision is not
        assert_close_diagnosed(
            out,
            expected.to(device=device, dtype=dtype),
            lambda v=variants: _pick(v, 0),
            what="training output",
            context=ctx,
            **tol,
        )
        for i, name in ((1, "running_mean"), (2, "running_var")):
            got = getattr(module, name)
            assert got.grad_fn is None and not got.requires_grad, (
                f"{name} carries autograd history after a training step: update the buffers "
                "under torch.no_grad() (or from detached statistics)"
            )
            assert_close_diagnosed(
                got,
                getattr(ref, name).to(device=device, dtype=dtype),
                lambda i=i, v=variants: _pick(v, i),
                what=name,
                context=ctx,
                **tol,
            )
        nbt = module.num_batches_tracked
        assert nbt.dtype == torch.int64 and int(nbt) == step + 1, (
            f"num_batches_tracked [{ctx}]: expected {step + 1} (int64, +1 per training "
            f"forward), got {nbt!r}"
        )


@pytest.mark.parametrize(
    "kwargs", [{}, {"momentum": 0.3}, {"eps": 0.5, "momentum": 0.05}], ids=str
)
def test_train_then_eval_match_torch(impl, device, kwargs):
    eps, momentum = kwargs.get("eps", 1e-5), kwargs.get("momentum", 0.1)
    c = 3
    module, ref = _make(impl, c, device, seed=len(kwargs), **kwargs)
    shapes = [(2, c, 2, 3), (4, c, 3, 3), (1, c, 4, 5)]  # small n: n / (n - 1) shows
    # eps=0.5 only matters for small variances
    seed = 10 + 10 * len(kwargs)
    context = f"BatchNorm2d({c}, **{kwargs})"
    _train_steps(
        module, ref, shapes, device, torch.float32, seed, momentum, eps, context
    )
    # eval: the running statistics, no update
    module.eval()
    ref.eval()
    state = _state(ref)
    x = _x((3, c, 4, 2), seed + 9, device)
    out = module(x)
    assert_close_diagnosed(
        out,
        ref(x.cpu().double()).to(device=device, dtype=x.dtype),
        lambda: _eval_variants(x, state, eps),
        what="eval output",
        context=f"{context}, eval after {len(shapes)} training steps",
        **TOL,
    )
    for name in ("running_mean", "running_var"):
        assert_close(
            getattr(module, name),
            state[name].to(device=device, dtype=torch.float32),
            what=f"{name} after an eval forward (eval must not update it)",
            **TOL,
        )
    assert int(module.num_batches_tracked) == len(shapes), (
        "num_batches_tracked changed in eval: only training forwards count"
    )
    # and back to training: the batch statistics again, the counter going on
    module.train()
    ref.train()
    _train_steps(
        module,
        ref,
        [(2, c, 3, 2)],
        device,
        torch.float32,
        seed + 20,
        momentum,
        eps,
        f"{context}, after eval, back in train mode",
        start=len(shapes),
    )


def test_back_to_train_mode_uses_batch_statistics(impl, device):
    c = 4
    module, ref = _make(impl, c, device, seed=5)
    module.eval()
    module.train()
    _train_steps(
        module,
        ref,
        [(3, c, 2, 2), (2, c, 3, 1)],
        device,
        torch.float32,
        40,
        0.1,
        1e-5,
        "BatchNorm2d(4) after .eval() then .train()",
    )


def test_float64_keeps_dtype(impl, device):
    c = 5
    module, ref = _make(impl, c, device, dtype=torch.float64, seed=6, momentum=0.2)
    _train_steps(
        module,
        ref,
        [(2, c, 3, 4), (3, c, 2, 2)],
        device,
        torch.float64,
        50,
        0.2,
        1e-5,
        "float64 module and input",
    )
    module.eval()
    ref.eval()
    x = _x((2, c, 2, 3), 59, device, torch.float64)
    assert_close(
        module(x),
        ref(x.cpu()).to(device),
        what="eval output",
        context="float64",
        **TOL,
    )


def test_gradients_flow_through_the_batch_statistics(impl, device):
    c = 3
    module, ref = _make(impl, c, device, seed=7)
    x = _x((3, c, 2, 3), 60, device).requires_grad_()
    up = randn((3, c, 2, 3), 61, "cpu", torch.float64)
    out = module(x)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the training output does not require grad: keep it connected to x, weight and bias"
    )
    (out * up.to(device)).sum().backward()
    xr = x.detach().cpu().double().requires_grad_()
    (ref(xr) * up).sum().backward()
    for name in ("running_mean", "running_var"):
        t = getattr(module, name)
        assert t.grad_fn is None and not t.requires_grad, (
            f"{name} carries autograd history after a training step with x requiring grad: "
            "update the buffers under torch.no_grad()"
        )
    assert x.grad is not None, "no gradient reached x"

    def detached_stats():
        xd = x.detach().cpu().double().requires_grad_()
        mean = xd.detach().mean((0, 2, 3), keepdim=True)
        var = xd.detach().var((0, 2, 3), unbiased=False, keepdim=True)
        w = ref.weight.detach().view(1, -1, 1, 1)
        y = (xd - mean) / torch.sqrt(var + 1e-5) * w + ref.bias.detach().view(
            1, -1, 1, 1
        )
        (y * up).sum().backward()
        return xd.grad

    assert_close_diagnosed(
        x.grad,
        xr.grad.to(device=device, dtype=x.dtype),
        lambda: {
            "the batch mean and variance were detached (or computed under no_grad): in "
            "training the gradient flows through them": detached_stats
        },
        what="gradient of x",
        atol=1e-4,
        rtol=1e-4,
    )
    for name in ("weight", "bias"):
        got = getattr(module, name).grad
        assert got is not None, f"no gradient reached `{name}`"
        assert_close(
            got,
            getattr(ref, name).grad.to(device=device, dtype=got.dtype),
            what=f"gradient of {name}",
            atol=1e-4,
            rtol=1e-4,
        )


def test_state_dict_loads_strictly_both_ways(impl, device):
    c = 4
    # torch -> attempt: a trained nn.BatchNorm2d's state, then eval outputs must agree
    torch_bn = torch.nn.BatchNorm2d(c, momentum=0.2)
    with torch.no_grad():
        torch_bn.weight.copy_(torch.rand(c, generator=generator(70)) + 0.5)
        torch_bn.bias.copy_(torch.randn(c, generator=generator(71)))
    for s in range(3):
        torch_bn(_x((2, c, 3, 3), 72 + s, "cpu"))
    module = call(impl.BatchNorm2d, c, momentum=0.2, what="BatchNorm2d")
    result = module.load_state_dict(torch_bn.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    module = module.to(device)
    assert int(module.num_batches_tracked) == 3, (
        "num_batches_tracked was not loaded from the state dict: it must be a buffer"
    )
    module.eval()
    torch_bn.eval()
    x = _x((2, c, 3, 2), 79, device)
    assert_close(
        module(x),
        torch_bn(x.cpu()).to(device),
        what="eval output after loading nn.BatchNorm2d's state dict",
        **TOL,
    )
    # attempt -> torch: train the attempt, load its state into nn.BatchNorm2d
    module.train()
    for s in range(2):
        module(_x((3, c, 2, 2), 80 + s, device))
    fresh = torch.nn.BatchNorm2d(c)
    fresh.load_state_dict(
        {k: v.cpu() for k, v in module.state_dict().items()}, strict=True
    )
    assert int(fresh.num_batches_tracked) == 5, (
        "num_batches_tracked should be 5 after 3 loaded and 2 more training steps"
    )
