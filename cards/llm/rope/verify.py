"""Verifier for RoPE: against Hugging Face Llama's rotary embedding (`LlamaRotaryEmbedding` and
`apply_rotary_pos_emb`), built from a tiny config (nothing is downloaded).

HF computes the angles and their cos/sin in float32; low-precision inputs are compared with HF
run on the float32 copy of the input, cast back. Float32 angles pos * freq carry a rounding error
of about pos * 2^-24 rad, so the float32 tolerance grows with the largest position: that lets an
attempt that builds its table in float64 pass, while any convention or formula bug is off by O(|x|).
"""

import functools
import warnings

import pytest
import torch

from cards.checks import assert_close, assert_unchanged, generator, tolerance


@functools.cache
def _hf_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers.models.llama import modeling_llama
    return modeling_llama


@functools.cache
def _hf_rotary(head_dim: int, base: float, device: str):
    """LlamaRotaryEmbedding for head_dim and rope theta `base`, across transformers 4.45+ and 5.x."""
    hf = _hf_module()
    config = hf.LlamaConfig(
        vocab_size=32,
        hidden_size=head_dim,
        intermediate_size=4 * head_dim,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=head_dim,
        rope_theta=base,
    )
    params = getattr(
        config, "rope_parameters", None
    )  # transformers 5.x keeps theta here
    if isinstance(params, dict):
        params["rope_theta"] = base
        params.setdefault("rope_type", "default")
    rotary = hf.LlamaRotaryEmbedding(config=config).to(device)
    expected = 1.0 / base ** (
        torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
    )
    got = rotary.inv_freq.detach().to("cpu", torch.float64)
    if got.shape != expected.shape or not torch.allclose(
        got, expected, rtol=1e-5, atol=0
    ):
        raise RuntimeError(
            f"verifier setup: could not configure LlamaRotaryEmbedding with theta={base}"
        )
    return rotary


def _hf_rope(x, positions, base):
    """HF Llama's RoPE on x (..., T, D) at `positions` (T,), in float32."""
    T, D = x.shape[-2], x.shape[-1]
    x3 = x.float().reshape(-1, T, D)  # (N, T, D)
    rotary = _hf_rotary(D, float(base), x.device.type)
    cos, sin = rotary(x3, positions.to(x.device)[None, :])  # (1, T, D) each
    out, _ = _hf_module().apply_rotary_pos_emb(x3, x3, cos[0], sin[0], unsqueeze_dim=0)
    return out.reshape(x.shape)


def _exact(x, positions, base, *, interleaved=False, sign=1.0, swap=False):
    """Float64 RoPE, plus the classic wrong variants, used only to name a mistake."""
    D = x.shape[-1]
    inv = 1.0 / base ** (torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = positions.to("cpu", torch.float64)[:, None] * inv  # (T, D/2)
    cos, sin = ang.cos(), ang.sin() * sign
    if swap:
        cos, sin = sin, cos
    xd = x.detach().to("cpu", torch.float64)
    if interleaved:
        a, b = xd[..., 0::2], xd[..., 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    a, b = xd[..., : D // 2], xd[..., D // 2 :]
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


def _hint(out, x, positions, base):
    if not isinstance(out, torch.Tensor) or out.shape != x.shape or x.shape[-1] < 4:
        return ""
    got = out.detach().to("cpu", torch.float64)
    T = x.shape[-2]
    guesses = [
        (
            (
                "the interleaved (GPT-J / complex) pairing (x[2j], x[2j+1]); this card pairs x[j] with "
                "x[j + D/2] as HF Llama's rotate_half does"
            ),
            {"interleaved": True},
        ),
        (
            "a rotation in the wrong direction (check the sign in rotate_half: it is cat(-x2, x1))",
            {"sign": -1.0},
        ),
        ("cos and sin swapped", {"swap": True}),
    ]
    for what, kwargs in guesses:
        if torch.allclose(
            got, _exact(x, positions, base, **kwargs), atol=1e-2, rtol=1e-2
        ):
            return f"; this looks like {what}"
    default = torch.arange(T)
    if not torch.equal(positions.cpu(), default) and torch.allclose(
        got, _exact(x, default, base), atol=1e-2, rtol=1e-2
    ):
        return (
            "; this looks like positions 0..T-1: the `positions` argument was ignored"
        )
    return ""


def _atol(x, positions, dtype):
    atol, rtol = tolerance(dtype)
    if dtype == torch.float32:
        max_pos = float(positions.abs().max()) if positions.numel() else 0.0
        atol += (
            1.2e-7 * max_pos * float(x.detach().abs().max())
        )  # float32 angle rounding, see above
    return atol, rtol


def _check(impl, x, positions=None, base=None, context=""):
    """Call the attempt, check it left its inputs alone, compare with HF."""
    x_before = x.clone()
    pos_before = None if positions is None else positions.clone()
    kwargs = {}
    if positions is not None:
        kwargs["positions"] = positions
    if base is not None:
        kwargs["base"] = base
    out = impl.apply_rope(x, **kwargs)
    assert_unchanged(x_before, x, "x")
    if positions is not None:
        assert_unchanged(pos_before, positions, "positions")
    T = x.shape[-2]
    pos = torch.arange(T, device=x.device) if positions is None else positions
    base = 10000.0 if base is None else base
    expected = _hf_rope(x, pos, base).to(x.dtype)
    atol, rtol = _atol(x, pos, x.dtype)
    where = (
        f"x of shape {tuple(x.shape)} {str(x.dtype).replace('torch.', '')}, " + context
    )
    assert_close(
        out, expected, atol=atol, rtol=rtol, context=where + _hint(out, x, pos, base)
    )
    return out


# (B, H, T, D), (T, D), (B, T, D), an odd T with the smallest D, D/2 odd, a single token.
SHAPES = [
    (2, 3, 7, 16),
    (1, 1, 13, 64),
    (7, 32),
    (2, 5, 8),
    (3, 9, 2),
    (2, 2, 11, 34),
    (1, 4, 1, 6),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_hf_llama_default_positions(impl, device, shape, seed):
    x = torch.randn(shape, generator=generator(seed)).to(device)
    _check(impl, x, context="positions=None (0..T-1)")


POSITIONS = {
    "decode step at 37": lambda g: torch.tensor([37]),
    "offset 100..106": lambda g: torch.arange(100, 107),
    "shuffled 0..10": lambda g: torch.randperm(11, generator=g),
    "repeated and out of order": lambda g: torch.tensor([5, 5, 0, 3]),
    "long context 4000..4004": lambda g: torch.arange(4000, 4005),
}


@pytest.mark.parametrize("case", list(POSITIONS))
def test_explicit_positions(impl, device, case):
    positions = POSITIONS[case](generator(3))
    x = torch.randn(2, 3, len(positions), 16, generator=generator(4)).to(device)
    _check(
        impl, x, positions.to(device), context=f"positions {case}: {positions.tolist()}"
    )


@pytest.mark.parametrize("base", [500.0, 500000.0])
def test_custom_base(impl, device, base):
    x = torch.randn(2, 2, 10, 24, generator=generator(6)).to(device)
    positions = torch.arange(20, 30).to(device)
    _check(impl, x, positions, base=base, context=f"base={base:g}")


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"]
)
@pytest.mark.parametrize("start", [0, 1000])
def test_low_precision(impl, device, dtype, start):
    x = torch.randn(2, 3, 19, 32, generator=generator(7)).to(device=device, dtype=dtype)
    positions = torch.arange(start, start + 19).to(device)
    _check(impl, x, positions, context=f"positions {start}..{start + 18}")


def test_gradient_wrt_x(impl, device):
    x = torch.randn(2, 3, 7, 16, generator=generator(8)).to(device).requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    positions = torch.tensor([3, 1, 4, 1, 5, 9, 2]).to(device)
    upstream = torch.randn(2, 3, 7, 16, generator=generator(9)).to(device)
    out = impl.apply_rope(x, positions)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: is it detached from x (torch.no_grad, .detach(), .item(), numpy)?"
    )
    (out * upstream).sum().backward()
    (_hf_rope(ref_x, positions, 10000.0) * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached x"
    assert_close(x.grad, ref_x.grad, what="gradient of x", atol=1e-5, rtol=1e-4)
