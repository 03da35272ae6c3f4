"""Verifier for NF4 and QLoRALinear. The codes' layout is the attempt's own, so they are tested
through its own dequantize: every value must be its block's max|x| times the NF4 level
(QLoRA's / bitsandbytes' table, below) nearest to x / absmax. QLoRALinear is compared with the
formula on a float64 NF4 weight; the test scans parameters, buffers, the state dict and plain
attributes for a full-precision copy of the base weight, changes the original weight after
wrapping, checks which tensors get gradients, and trains the adapter on a synthetic task."""

import pytest
import torch
from torch import nn

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_tensor,
    assert_unchanged,
    call,
    generator,
    randn,
)

# QLoRA's NF4 levels, as bitsandbytes stores them.
NF4 = torch.tensor(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=torch.float64,
)  # fmt: skip
UNIFORM = torch.linspace(-1, 1, 16, dtype=torch.float64)
NEAR_TIE = 1e-5  # normalised distance within which two levels count as equally near


def _weight(shape, seed, device):
    w = randn(shape, seed, scale=0.05)
    w.view(-1)[::17] *= 6  # outliers, so blocks differ in absmax
    return w.to(device)


def _blocks64(w, block):
    flat = w.detach().to("cpu", torch.float64).flatten()
    pad = -flat.numel() % block
    return torch.cat([flat, flat.new_zeros(pad)]).view(-1, block), flat.numel()


def _nf4_64(w, block, table=NF4, round_down=False, per_tensor=False, per_row=False):
    """Float64 NF4 round trip on the CPU; the flags compute classic mistakes."""
    if per_row:
        w64 = w.detach().to("cpu", torch.float64)
        a = w64.abs().amax(dim=-1, keepdim=True)
        return (table[((w64 / a)[..., None] - table).abs().argmin(-1)] * a).view(
            w.shape
        )
    blocks, n = _blocks64(w, block)
    a = blocks.abs().amax(1, keepdim=True)
    if per_tensor:
        a = a.max().expand_as(a)
    x = blocks / a.clamp(min=1e-30)
    if round_down:
        idx = (torch.searchsorted(table, x.contiguous(), right=True) - 1).clamp(0, 15)
    else:
        idx = (x[..., None] - table).abs().argmin(-1)
    return (table[idx] * a).flatten()[:n].view(w.shape)


def _variants(w, block):
    return {
        "the levels are a uniform 4-bit grid (linspace(-1, 1, 16)), not QLoRA's NF4 table": (
            _nf4_64(w, block, table=UNIFORM)
        ),
        "each value was rounded down to the level below (searchsorted/bucketize without "
        "midpoints): take the nearest level": _nf4_64(w, block, round_down=True),
        "one absmax for the whole tensor: NF4 scales each block of block_size values by "
        "its own max|x|": _nf4_64(w, block, per_tensor=True),
        "one absmax per row: blocks are consecutive runs of block_size values of "
        "weight.flatten()": _nf4_64(w, block, per_row=True) if w.dim() > 1 else None,
    }


def _roundtrip(impl, w, block):
    before = w.clone()
    kwargs = {} if block == 64 else {"block_size": block}
    out = call(impl.nf4_quantize, w, what="nf4_quantize", **kwargs)
    assert_unchanged(before, w, "weight")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        "nf4_quantize must return (codes, absmax)"
    )
    codes, absmax = out
    assert_tensor(codes, "codes")
    assert codes.dtype in (torch.uint8, torch.int8), (
        f"codes: dtype {codes.dtype}; store the 4-bit codes in a uint8 or int8 tensor "
        "(one per byte, or two packed per byte)"
    )
    assert codes.numel() <= w.numel() + block, (
        f"codes: {codes.numel()} bytes for {w.numel()} values: at most one code per value"
    )
    deq = call(
        impl.nf4_dequantize, codes, absmax, w.shape, what="nf4_dequantize", **kwargs
    )
    return codes, absmax, deq


def _check_absmax(absmax, w, block, context):
    blocks, _ = _blocks64(w, block)
    expected = blocks.abs().amax(1)
    assert_tensor(absmax, "absmax")
    if absmax.numel() == 1 and expected.numel() > 1:
        raise AssertionError(
            f"absmax [{context}]: one value for {expected.numel()} blocks; NF4 scales each "
            "block of block_size values by its own max|x|"
        )
    if w.dim() > 1 and absmax.numel() == w.shape[0] != expected.numel():
        raise AssertionError(
            f"absmax [{context}]: one value per row ({w.shape[0]}), expected one per block "
            f"({expected.numel()}): blocks are consecutive runs of block_size values of "
            "weight.flatten()"
        )
    assert absmax.numel() == expected.numel(), (
        f"absmax [{context}]: {absmax.numel()} values, expected one per block "
        f"({expected.numel()} blocks of {block} over {w.numel()} values)"
    )
    assert_close(
        absmax.detach().cpu().double().flatten(),
        expected,
        what="absmax",
        atol=0,
        rtol=1e-6,
        check_dtype=False,
        context=context + ", each block's max|x|",
    )


def _check_levels(deq, w, block, context):
    """Every value is absmax × the nearest NF4 level (either one at a near-tie)."""
    assert_tensor(deq, "nf4_dequantize(...)")
    assert deq.shape == w.shape, (
        f"nf4_dequantize: shape expected {tuple(w.shape)}, got {tuple(deq.shape)}"
    )
    assert deq.is_floating_point(), f"nf4_dequantize: dtype {deq.dtype}, expected float"
    assert deq.device.type == w.device.type, (
        f"nf4_dequantize: on {deq.device.type}, expected {w.device.type}"
    )
    blocks, n = _blocks64(w, block)
    a = blocks.abs().amax(1, keepdim=True)
    x = (blocks / a.clamp(min=1e-30)).flatten()[:n]
    scale = a.expand_as(blocks).flatten()[:n]
    dist = (x[:, None] - NF4).abs()  # (n, 16)
    allowed = dist <= dist.min(1, keepdim=True).values + NEAR_TIE
    got = deq.detach().cpu().double().flatten()
    hit = (got[:, None] - scale[:, None] * NF4).abs() <= 1e-6 * scale[:, None] + 1e-9
    ok = (hit & allowed).any(1)
    if ok.all():
        return
    expected = _nf4_64(w, block)
    assert_close_diagnosed(
        deq.detach().cpu().double(),
        expected,
        lambda: {k: v for k, v in _variants(w, block).items() if v is not None},
        what="nf4_dequantize(*nf4_quantize(w))",
        atol=1e-6,
        rtol=1e-5,
        context=context + ": each value must be absmax x the nearest NF4 level",
    )
    bad = int((~ok).nonzero()[0])
    raise AssertionError(
        f"nf4 round trip [{context}]: {int((~ok).sum())} of {n} values are not absmax x the "
        f"nearest NF4 level; first at flat index {bad}: got {got[bad].item():.6g}, expected "
        f"{expected.flatten()[bad].item():.6g}"
    )


CASES = [((8, 64), 64), ((5, 13), 64), ((16, 48), 32), ((3, 7, 10), 16), ((300,), 64)]


@pytest.mark.parametrize("shape,block", CASES)
def test_nf4_round_trip(impl, device, shape, block):
    w = _weight(shape, len(shape) + block, device)
    context = f"weight {tuple(shape)}, block_size={block}"
    _, absmax, deq = _roundtrip(impl, w, block)
    _check_levels(deq, w, block, context)
    _check_absmax(absmax, w, block, context)


def test_nf4_zeros_and_exact_levels(impl, device):
    # Each block holds exact multiples of NF4 levels and zeros: they must come back exactly.
    idx = torch.randint(0, 16, (4, 64), generator=generator(3))
    idx[:, 0] = 15  # the block's absmax is its level 1.0
    w = (
        NF4[idx] * torch.tensor([[0.5], [2.0], [0.01], [1.0]], dtype=torch.float64)
    ).to(device, torch.float32)
    w[3, 10:20] = 0
    deq = _roundtrip(impl, w, 64)[2]
    assert_close(
        deq.detach().cpu().double(),
        w.cpu().double(),
        what="nf4_dequantize(*nf4_quantize(w))",
        atol=1e-7,
        rtol=1e-6,
        check_dtype=False,
        context="values already on the NF4 grid come back unchanged",
    )


# -- QLoRALinear -----------------------------------------------------------------------------
IN, OUT, R, ALPHA = 80, 24, 4, 8


def _base(bias, seed, device):
    torch.manual_seed(seed)
    base = nn.Linear(IN, OUT, bias=bias)
    with torch.no_grad():
        base.weight.copy_(_weight((OUT, IN), seed, "cpu"))
        if bias:
            base.bias.copy_(randn((OUT,), seed + 1, scale=0.5))
    return base.to(device)


def _make(impl, base, device):
    weight = base.weight.detach().clone()
    layer = call(impl.QLoRALinear, base, R, ALPHA, what="QLoRALinear")
    layer = layer.to(device)
    A, B = getattr(layer, "lora_A", None), getattr(layer, "lora_B", None)
    for name, p, shape in (("lora_A", A, (R, IN)), ("lora_B", B, (OUT, R))):
        assert isinstance(p, nn.Parameter), f"`{name}` must be an nn.Parameter"
        assert tuple(p.shape) == shape, (
            f"{name}: shape expected {shape}, got {tuple(p.shape)}"
        )
    assert torch.all(B == 0), (
        "lora_B must start at zeros (the layer equals the base at init)"
    )
    assert A.detach().abs().sum() > 0 and torch.isfinite(A).all(), (
        "lora_A must start random and finite, not zeros"
    )
    return layer, weight


def _full_precision_copies(layer, weight):
    """Floating tensors reachable from the layer that could hold the whole base weight."""
    found = []
    n = weight.numel()

    def look(name, t):
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() >= n:
            found.append(f"{name} {tuple(t.shape)}")

    for name, t in layer.state_dict(keep_vars=True).items():
        look(f"state_dict[{name!r}]", t)
    for name, t in layer.named_parameters():
        look(f"parameter {name}", t)
    for name, t in layer.named_buffers():
        look(f"buffer {name}", t)
    for mname, module in layer.named_modules():
        if isinstance(module, nn.Linear) and module.weight.shape == weight.shape:
            found.append(
                f"submodule {mname or 'self'} (an nn.Linear of the base's shape)"
            )
        for key, value in vars(module).items():
            if key in ("_parameters", "_buffers", "_modules"):
                continue  # seen above, by name
            values = value if isinstance(value, (list, tuple)) else [value]
            if isinstance(value, dict):
                values = list(value.values())
            for v in values:
                look(f"attribute {mname + '.' if mname else ''}{key}", v)
                if isinstance(v, nn.Linear) and v.weight.shape == weight.shape:
                    found.append(f"attribute {key} (the base nn.Linear itself)")
    return sorted(set(found))


def _expected(x, base_weight, bias, A, B):
    """The formula in float64 on the CPU (differentiable in x, A and B)."""
    w = _nf4_64(base_weight, 64)
    x64, A64, B64 = (t.to("cpu", torch.float64) for t in (x, A, B))
    out = x64 @ w.T
    if bias is not None:
        out = out + bias.detach().to("cpu", torch.float64)
    return out + (x64 @ A64.T @ B64.T) * (ALPHA / R)


@pytest.mark.parametrize("bias", [True, False])
def test_qlora_keeps_only_nf4(impl, device, bias):
    base = _base(bias, 10, device)
    layer, weight = _make(impl, base, device)
    copies = _full_precision_copies(layer, weight)
    assert not copies, (
        "QLoRALinear keeps a full-precision copy of the base weight: "
        + ", ".join(copies)
        + ". Keep only the NF4 codes and absmax (and the bias); dequantise in forward"
    )
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A", "lora_B"}, (
        f"trainable parameters: {sorted(trainable)}; only lora_A and lora_B may train "
        "(the base, its codes and its bias are frozen)"
    )


@pytest.mark.parametrize("bias", [True, False])
def test_qlora_forward(impl, device, bias):
    base = _base(bias, 20, device)
    layer, weight = _make(impl, base, device)
    x = randn((3, 5, IN), 21, device)
    context = f"base with{'' if bias else 'out'} bias, lora_B = 0 at init"
    A, B = layer.lora_A.detach(), layer.lora_B.detach()
    assert_close(
        layer(x),
        _expected(x, weight, base.bias, A, B).to(device, torch.float32),
        what="QLoRALinear(x)",
        atol=1e-4,
        rtol=1e-4,
        context=context + ": x @ W_nf4^T + bias",
    )
    with torch.no_grad():
        layer.lora_B.copy_(randn((OUT, R), 22, scale=0.3).to(device))
        layer.lora_A.copy_(randn((R, IN), 23, scale=0.2).to(device))
        base.weight.zero_()  # the layer must not read the original weight any more
    out = layer(x)
    expected = _expected(x, weight, base.bias, A, B)
    scale_bugs = {
        "the LoRA path is scaled by alpha, not alpha / r": _expected(
            x, weight, base.bias, A, B * R
        ),
        "the LoRA path is not scaled: multiply it by alpha / r": _expected(
            x, weight, base.bias, A, B / (ALPHA / R)
        ),
        "the base path reads the original full-precision weight (or ignores it): it must "
        "use the NF4 weight, dequantised": _expected(
            x, torch.zeros_like(weight), base.bias, A, B
        ),
        "the base path uses the full-precision weight, not the NF4 one": (
            _expected(x, weight, base.bias, A, B)
            - x.detach().cpu().double()
            @ (_nf4_64(weight, 64) - weight.cpu().double()).T
        ),
    }
    assert_close_diagnosed(
        out,
        expected.to(device, torch.float32),
        lambda: scale_bugs,
        what="QLoRALinear(x)",
        atol=1e-4,
        rtol=1e-4,
        context="lora_A, lora_B set to random values; the original nn.Linear's weight "
        "zeroed after wrapping",
    )


def test_qlora_gradients(impl, device):
    base = _base(True, 30, device)
    layer, weight = _make(impl, base, device)
    with torch.no_grad():
        layer.lora_B.copy_(randn((OUT, R), 31, scale=0.3).to(device))
    x = randn((4, IN), 32, device).requires_grad_()
    upstream = randn((4, OUT), 33, device)
    (layer(x) * upstream).sum().backward()
    for name in ("lora_A", "lora_B"):
        assert getattr(layer, name).grad is not None, f"no gradient reached {name}"
    for name, p in layer.named_parameters():
        if name not in ("lora_A", "lora_B"):
            assert p.grad is None, f"parameter {name} received a gradient; it is frozen"
    x64 = x.detach().cpu().double().requires_grad_()
    A64 = layer.lora_A.detach().cpu().double().requires_grad_()
    B64 = layer.lora_B.detach().cpu().double().requires_grad_()
    (
        _expected(x64, weight, base.bias, A64, B64) * upstream.cpu().double()
    ).sum().backward()
    for what, got, want in (
        ("x", x.grad, x64.grad),
        ("lora_A", layer.lora_A.grad, A64.grad),
        ("lora_B", layer.lora_B.grad, B64.grad),
    ):
        assert_close(
            got,
            want.to(device, torch.float32),
            what=f"gradient of {what}",
            atol=1e-4,
            rtol=1e-4,
        )


def test_qlora_adapter_learns(impl, device):
    """A target that is the NF4 base plus a rank-2 update: training lora_A, lora_B alone
    brings the loss well down."""
    base = _base(False, 40, device)
    layer, weight = _make(impl, base, device)
    delta = randn((OUT, 2), 41, scale=0.5) @ randn((2, IN), 42, scale=0.5)
    w_target = (_nf4_64(weight, 64) + delta).float().to(device)
    x = randn((64, IN), 43, device)
    y = x @ w_target.T
    with torch.no_grad():  # the same start for every implementation, whatever its init
        layer.lora_A.copy_(randn((R, IN), 44, scale=0.1).to(device))
    params = [layer.lora_A, layer.lora_B]
    first = None
    for _ in range(100):
        loss = ((layer(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= 0.05 * g
    last = ((layer(x) - y) ** 2).mean().item()
    assert last < 0.2 * first, (
        f"training lora_A and lora_B for 100 steps took the loss from {first:.4g} to "
        f"{last:.4g} only: gradients must reach both, and the update be "
        "(alpha / r) * x @ A^T @ B^T"
    )
