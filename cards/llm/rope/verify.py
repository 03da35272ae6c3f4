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

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    generator,
    tolerance,
)


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
    # transformers 5.x keeps theta here
    params = getattr(config, "rope_parameters", None)
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


def _rope64(
    x,
    positions,
    base,
    *,
    pairing="half",
    layout="cat",
    sign=1.0,
    swap=False,
    exponent=2.0,
    angle_dtype=None,
):
    """RoPE in float64 on the CPU, and the classic wrong variants, used only to name a mistake:
    `pairing` "interleaved" pairs (x[2j], x[2j+1]); `layout` "repeat_interleave" lays the
    frequencies out (f0, f0, f1, f1, ...) under the half split; `sign` -1 rotates backwards;
    `swap` exchanges cos and sin; `exponent` 1 uses base^(-j/D); `angle_dtype` rounds the
    frequencies, positions and their product to that dtype, as a half-precision table would."""
    D = x.shape[-1]
    j = torch.arange(D // 2, dtype=torch.float64)
    inv = 1.0 / base ** (exponent * j / D)  # (D/2,)
    pos = positions.to("cpu", torch.float64)
    if angle_dtype is None:
        ang = pos[:, None] * inv  # (T, D/2)
    else:
        low = inv.float().to(angle_dtype)
        ang = (positions.cpu().to(angle_dtype)[:, None] * low).double()
    cos, sin = ang.cos(), ang.sin() * sign
    if swap:
        cos, sin = sin, cos
    xd = x.to("cpu", torch.float64)
    if pairing == "interleaved":
        a, b = xd[..., 0::2], xd[..., 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    if layout == "repeat_interleave":  # one frequency per adjacent pair of features
        cos, sin = cos.repeat_interleave(2, -1), sin.repeat_interleave(2, -1)
    else:
        cos, sin = torch.cat((cos, cos), -1), torch.cat((sin, sin), -1)
    a, b = xd[..., : D // 2], xd[..., D // 2 :]
    return xd * cos + torch.cat((-b, a), dim=-1) * sin


def _variants(x, positions, base, upstream=None):
    """{a classic mistake in the user's terms: the output it gives}, float64 on the CPU; with
    `upstream`, the gradient of sum(output * upstream) w.r.t. x instead."""
    dtype = x.dtype
    x = x.detach().to("cpu", torch.float64).requires_grad_(upstream is not None)
    found = {
        "pairs are interleaved (GPT-J / complex style, x[2j] with x[2j+1]), not split in "
        "halves (rotate_half): this card pairs x[j] with x[j + D/2] as HF Llama does": _rope64(
            x, positions, base, pairing="interleaved"
        ),
        "the rotation goes the wrong way (by -θ): rotate_half(x) is cat(-x2, x1), not "
        "cat(x2, -x1)": _rope64(x, positions, base, sign=-1.0),
        "sin and cos are swapped: out = x * cos θ + rotate_half(x) * sin θ": _rope64(
            x, positions, base, swap=True
        ),
        "the frequency exponent is j/D, not 2j/D: pair j turns at base^(-2j/D), "
        "j = 0 .. D/2-1": _rope64(x, positions, base, exponent=1.0),
        "the frequencies are laid out (f0, f0, f1, f1, ...) as for interleaved pairs, but "
        "rotate_half pairs x[j] with x[j + D/2]: repeat them as cat(freqs, freqs)": _rope64(
            x, positions, base, layout="repeat_interleave"
        ),
    }
    default = torch.arange(x.shape[-2])
    if not torch.equal(positions.cpu(), default):
        why = "the `positions` argument was ignored: this is the rotation for 0..T-1"
        found[why] = _rope64(x, default, base)
    if dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).replace("torch.", "")
        why = (
            f"the angles were computed in {name} (position * frequency rounded to {name}, off "
            "by radians at large positions): compute the angles and their cos/sin in float32"
        )
        found[why] = _rope64(x, positions, base, angle_dtype=dtype)
    if upstream is None:
        return {why: out.detach() for why, out in found.items()}
    up = upstream.detach().to("cpu", torch.float64)
    return {
        why: torch.autograd.grad((out * up).sum(), x)[0] for why, out in found.items()
    }


def _atol(x, positions, dtype):
    atol, rtol = tolerance(dtype)
    if dtype == torch.float32:
        max_pos = float(positions.abs().max()) if positions.numel() else 0.0
        # float32 angle rounding, see above
        atol += 1.2e-7 * max_pos * float(x.detach().abs().max())
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
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(x, pos, base),
        atol=atol,
        rtol=rtol,
        context=where,
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
    assert_close_diagnosed(
        x.grad,
        ref_x.grad,
        lambda: _variants(x, positions, 10000.0, upstream=upstream),
        what="gradient of x",
        atol=1e-5,
        rtol=1e-4,
    )
