"""Verifier for the sinusoidal positional encoding: against the paper's formula in float64.

The function takes no tensor input, so its table is built on the CPU whatever the device; the
`device` fixture is accepted (the grader parametrizes every test over it) and not used.
"""

import pytest
import torch

from cards.checks import assert_close

# (seq_len, d_model): a single position, the smallest even width, odd lengths, widths that are
# not powers of two, and long tables where float32 angles (up to seq_len - 1 rad) lose digits.
SIZES = [(1, 2), (1, 16), (7, 2), (13, 34), (50, 128), (333, 66), (2048, 512)]


def _expected(seq_len, d_model, base=10000.0):
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angles = pos / base ** (two_i / d_model)
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = angles.sin()
    pe[:, 1::2] = angles.cos()
    return pe


def _atol(seq_len):
    # A float32 angle pos * freq is rounded to half an ulp of itself (~6e-8 * seq_len rad), which
    # a straightforward float32 computation cannot avoid; a wrong formula is off by O(1).
    return 1e-5 + 3e-7 * seq_len


def _hint(out, seq_len, d_model, base):
    """Name the classic mistake the output matches, if it matches one."""
    if (
        not isinstance(out, torch.Tensor)
        or out.shape != (seq_len, d_model)
        or seq_len < 2
        or d_model < 4
    ):
        return ""
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angles = pos / base ** (two_i / d_model)
    a = out.detach().to("cpu", torch.float64)
    guesses = {
        "sin and cos in two halves [sin | cos] instead of interleaved at even/odd indices": torch.cat(
            (angles.sin(), angles.cos()), dim=1
        ),
        "sin and cos swapped (sin belongs at even indices, cos at odd ones)": torch.stack(
            (angles.cos(), angles.sin()), dim=-1
        ).reshape(seq_len, d_model),
    }
    for what, guess in guesses.items():
        if torch.allclose(a, guess, atol=_atol(seq_len), rtol=0):
            return f" (this looks like {what})"
    return ""


def _check(impl, seq_len, d_model, base=None):
    if base is None:
        out = impl.sinusoidal_positional_encoding(seq_len, d_model)
        base = 10000.0
    else:
        out = impl.sinusoidal_positional_encoding(seq_len, d_model, base=base)
    assert isinstance(out, torch.Tensor), (
        f"expected a torch.Tensor, got {type(out).__name__}"
    )
    assert out.dtype == torch.float32, (
        f"dtype expected torch.float32, got {out.dtype} (return a float32 table)"
    )
    expected = _expected(seq_len, d_model, base).float()
    context = f"seq_len={seq_len}, d_model={d_model}, base={base:g}" + _hint(
        out, seq_len, d_model, base
    )
    assert_close(out, expected, atol=_atol(seq_len), rtol=0, context=context)


@pytest.mark.parametrize("seq_len, d_model", SIZES)
def test_matches_the_paper_formula(impl, device, seq_len, d_model):
    _check(impl, seq_len, d_model, base=10000.0)


def test_default_base_is_10000(impl, device):
    _check(impl, 40, 24)


@pytest.mark.parametrize("base", [100.0, 500000.0])
def test_custom_base(impl, device, base):
    _check(impl, 37, 18, base=base)


def test_position_zero_is_sin0_cos0(impl, device):
    out = impl.sinusoidal_positional_encoding(5, 8)
    assert isinstance(out, torch.Tensor), (
        f"expected a torch.Tensor, got {type(out).__name__}"
    )
    assert out.shape == (5, 8), f"shape expected (5, 8), got {tuple(out.shape)}"
    row0 = out[0].detach().to("cpu", torch.float64)
    expected = torch.tensor([0.0, 1.0] * 4, dtype=torch.float64)
    assert torch.allclose(row0, expected, atol=1e-6), (
        f"row 0 (position 0) expected {expected.tolist()}, got {[round(v, 4) for v in row0.tolist()]}: "
        "positions start at 0, sin at even indices and cos at odd ones"
    )


def test_float32_on_cpu(impl, device):
    out = impl.sinusoidal_positional_encoding(3, 4)
    assert isinstance(out, torch.Tensor), (
        f"expected a torch.Tensor, got {type(out).__name__}"
    )
    assert out.dtype == torch.float32, f"dtype expected torch.float32, got {out.dtype}"
    assert out.device.type == "cpu", (
        f"the table should be built on the CPU, got device {out.device}"
    )
