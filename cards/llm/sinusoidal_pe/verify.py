"""Verifier for the sinusoidal positional encoding: against the paper's formula in float64.

The function takes no tensor input, so its table is built on the CPU whatever the device; the
`device` fixture is accepted (the grader parametrizes every test over it) and not used.
"""

import pytest
import torch

from cards.checks import assert_close, likely_bug

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


def _interleave(even, odd):
    """(T, d) from two (T, d/2) tensors: `even` at indices 2i, `odd` at 2i+1."""
    return torch.stack((even, odd), dim=-1).flatten(-2)


def _sin_cos(angles):
    """The table for per-pair angles (T, d/2), and the angle of each of its entries (T, d)."""
    return _interleave(angles.sin(), angles.cos()), angles.repeat_interleave(2, dim=1)


def _variants(seq_len, d_model, base):
    """The classic wrong tables, in float64: {the mistake in the user's terms: (table, angle of
    each entry)}. The angle sets how far a float32 computation of that entry may drift."""
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d/2,)
    j = torch.arange(d_model, dtype=torch.float64)  # (d,)
    right = pos / base ** (two_i / d_model)  # (T, d/2)
    own = pos / base ** (j / d_model)  # (T, d): each index its own exponent j/d
    found = {
        "sines in the first half and cosines in the second ([sin | cos] concatenated): they "
        "must be interleaved, sin at even indices 2i and cos at odd indices 2i+1": (
            torch.cat((right.sin(), right.cos()), dim=1),
            torch.cat((right, right), dim=1),
        ),
        "sin and cos are swapped: PE[pos, 2i] is the sine and PE[pos, 2i+1] the cosine": (
            _interleave(right.cos(), right.sin()),
            right.repeat_interleave(2, dim=1),
        ),
        "the exponent is i/d with i the pair index: the pair (2i, 2i+1) has the frequency "
        "1/base^(2i/d), with the even feature index 2i in the exponent": _sin_cos(
            pos / base ** (two_i / 2 / d_model)
        ),
        "each index uses its own exponent (j/d, so 2i+1 gets (2i+1)/d): pairs (2i, 2i+1) must "
        "share the frequency 1/base^(2i/d)": (
            torch.where(j % 2 == 0, own.sin(), own.cos()),
            own,
        ),
        "the frequency is inverted, pos * base^(2i/d): the angle is pos / base^(2i/d)": _sin_cos(
            pos * base ** (two_i / d_model)
        ),
        "positions start at 1: they run 0..seq_len-1, so row 0 is [0, 1, 0, 1, ...]": _sin_cos(
            (pos + 1) / base ** (two_i / d_model)
        ),
    }
    if base != 10000.0:
        why = f"the `base` argument was ignored: this is the table for base 10000, not {base:g}"
        found[why] = _sin_cos(pos / 10000.0 ** (two_i / d_model))
    return found


def _diagnose_table(actual, expected, variants: dict) -> str:
    """Words for a failed comparison: the known mistakes whose table the output equals. (Not
    cards.checks.diagnose: its tolerance is one atol/rtol; here it follows each entry's angle.)

    Each entry may differ from its float64 value by float32 rounding of its angle (about 1e-6 of
    the angle, exponent included); entries whose angle is too large for that to mean anything
    (tolerance over 0.02) are left out. A variant that the right table would match names nothing."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return ""
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    found = []
    for why, (table, angles) in variants.items():
        tol = 1e-5 + 1e-6 * angles.abs()
        usable = tol <= 0.02
        if not usable.any():
            continue
        differs = ((e - table).abs() > tol)[usable].any()
        matches = ((a - table).abs() <= tol)[usable].all()
        if differs and matches:
            found.append(why)
    return likely_bug(found)


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
        f"dtype expected torch.float32, got {out.dtype} (return a float32 table: build it in "
        "any precision, then .float())"
    )
    expected = _expected(seq_len, d_model, base).float()
    context = f"seq_len={seq_len}, d_model={d_model}, base={base:g}"
    try:
        assert_close(out, expected, atol=_atol(seq_len), rtol=0, context=context)
    except AssertionError as exc:
        words = _diagnose_table(out, expected, _variants(seq_len, d_model, base))
        raise AssertionError(f"{exc}{words}") from None


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
    if not torch.allclose(row0, expected, atol=1e-6):
        words = _diagnose_table(out, _expected(5, 8), _variants(5, 8, 10000.0))
        raise AssertionError(
            f"row 0 (position 0) expected {expected.tolist()} (sin 0, cos 0, ...), got "
            f"{[round(v, 4) for v in row0.tolist()]}{words}"
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
