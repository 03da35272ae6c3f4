"""Verifier for INT8 quantisation: scales and zero points against float64 formulas, q against
torch.quantize_per_tensor / quantize_per_channel given the attempt's own scale and zero point
(near-ties may round either way), dequantize against (q - zero_point) * scale, and the round
trip's error bound. On one-sign data, either zero-point range convention is accepted and only
the round trip's error is checked.

A failed check names the classic mistake it matches: the statistics reduced over `dim` instead
of the other dims, /128 or /255 instead of /127, max instead of max|x|, truncation instead of
rounding, int8 overflow in dequantize, the zero point's sign flipped, ..."""

import warnings

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_tensor,
    assert_unchanged,
    call,
    randn,
)

# (shape, dim): per tensor and per channel along each kind of axis
CASES = [((8, 16), None), ((8, 16), 0), ((4, 6, 5), 1), ((4, 6, 5), 2), ((3, 10), 1)]
CASES += [((12,), None)]
TIE = (
    1e-3  # |frac(x / scale) - 0.5| below this: a near-tie, either neighbour is accepted
)


def _data(shape, seed, device, kind="mixed"):
    x = randn(shape, seed, scale=2.0)
    x.view(-1)[:: max(1, x.numel() // 3)] *= 4  # outliers set the scales
    # signs in a checkerboard: every channel, along any dim, has both
    if kind == "mixed":
        parity = sum(torch.meshgrid(*[torch.arange(n) for n in shape], indexing="ij"))
        x = torch.where(parity % 2 == 0, x.abs(), -x.abs())
    elif kind == "positive":
        x = x.abs() + 0.5
    elif kind == "negative":
        x = -(x.abs() + 3.0)
    elif kind == "mostly_positive":
        x = x.abs() * 3 - 0.5  # q - zero_point leaves the int8 range
    return x.to(device)


def _reduce64(x, dim, op):
    x = x.detach().to("cpu", torch.float64)
    if dim is None:
        return op(x)
    others = [d for d in range(x.dim()) if d != dim]
    return op(x, dim=others, keepdim=True) if others else x.clone()


def _describe(dim, x):
    if dim is None:
        return f"per tensor, x of shape {tuple(x.shape)}"
    return f"per channel along dim={dim}, x of shape {tuple(x.shape)}"


def _scale_shape(scale, x, dim, what):
    """The scale's shape: one value per index of dim (or one), broadcastable against x."""
    assert_tensor(scale, what)
    want = 1 if dim is None else x.shape[dim]
    if dim is not None and scale.numel() == x.numel() // x.shape[dim] != want:
        raise AssertionError(
            f"{what}: {scale.numel()} values for x of shape {tuple(x.shape)} with dim={dim}: "
            f"the statistics were reduced over dim {dim} itself; per channel along dim means "
            f"one value per index of dim ({want}), reduced over every other dim"
        )
    assert scale.numel() == want, (
        f"{what}: expected {want} value(s) ({_describe(dim, x)}), got shape "
        f"{tuple(scale.shape)}"
    )
    try:
        shape = torch.broadcast_shapes(scale.shape, x.shape)
    except RuntimeError:
        shape = None
    assert shape == x.shape, (
        f"{what}: shape {tuple(scale.shape)} does not broadcast against x of shape "
        f"{tuple(x.shape)}: keep the reduced dims (keepdim=True)"
    )
    assert scale.device.type == x.device.type, (
        f"{what}: on {scale.device.type}, expected {x.device.type}"
    )


def _expand(t, x):
    """t (a tensor or number) as float64 on the CPU, broadcast to x's shape."""
    return torch.as_tensor(t).detach().to("cpu", torch.float64).expand(x.shape)


def _check_q(q, x, scale, zp, low, high, context, dim):
    """q is int8 on x's device and equals round(x / scale) + zp clamped to [low, high], as
    torch's quantize_per_* computes it; near-ties may go either way."""
    assert_tensor(q, "q")
    assert q.dtype == torch.int8, f"q: dtype expected torch.int8, got {q.dtype}"
    assert q.shape == x.shape, (
        f"q: shape expected {tuple(x.shape)}, got {tuple(q.shape)} [{context}]"
    )
    assert q.device.type == x.device.type, f"q: on {q.device.type}, not {x.device.type}"
    qi = q.detach().cpu().long()
    assert qi.min() >= low and qi.max() <= high, (
        f"q: values from {qi.min().item()} to {qi.max().item()}, outside [{low}, {high}] "
        f"[{context}]"
    )
    s, z = _expand(scale, x), _expand(zp, x)
    v = x.detach().cpu().double() / s
    expected = (torch.round(v) + z).clamp(low, high).long()
    # torch's own quantiser applies
    if low == -128 and z.min() >= -128 and z.max() <= 127:
        expected = _torch_q(x, scale, zp, dim)
    near_tie = ((v - v.floor()) - 0.5).abs() < TIE
    other = torch.where(v - v.floor() < 0.5, v.ceil(), v.floor()) + z
    ok = (qi == expected) | (near_tie & (qi == other.clamp(low, high).long()))
    if not ok.all():
        index = tuple(int(i) for i in (~ok).nonzero()[0])
        why = ""
        trunc = (v.trunc() + z).clamp(low, high).long()
        # x / scale within rounding error of an integer
        exact = (v - v.round()).abs() < TIE
        if bool(((qi == trunc) | exact).all()):
            why = (
                "\nlikely bug: x / scale was truncated towards zero (a plain cast to int8): "
                "round it first, torch.round(x / scale)"
            )
        elif bool(((torch.round(v) - z).clamp(low, high).long() == qi).all()):
            why = (
                "\nlikely bug: the zero point was subtracted, q = round(x / scale) - "
                "zero_point: with x ~ (q - zero_point) * scale it is added"
            )
        raise AssertionError(
            f"q [{context}]: {int((~ok).sum())} of {q.numel()} values differ from "
            f"round(x / scale) + zero_point (torch.quantize_per_* with your scale and zero "
            f"point); first at index {index}: got {qi[index].item()}, expected "
            f"{expected[index].item()} (x / scale = {v[index].item():.4f})" + why
        )


def _torch_q(x, scale, zp, dim):
    """torch's qint8 quantiser with the attempt's scale and zero point, as int64 on the CPU."""
    x = x.detach().cpu().float()
    s = torch.as_tensor(scale).detach().cpu().double().reshape(-1)
    z = torch.as_tensor(zp).detach().cpu().double().round().long().reshape(-1)
    with warnings.catch_warnings():  # torch's quantised tensors are deprecated
        warnings.simplefilter("ignore")
        if dim is None:
            q = torch.quantize_per_tensor(x, s.item(), int(z[0]), torch.qint8)
        else:
            z = z.expand(s.shape) if z.numel() == 1 else z
            q = torch.quantize_per_channel(x, s, z.contiguous(), dim, torch.qint8)
    return q.int_repr().long()


# -- absmax ----------------------------------------------------------------------------------
def _absmax_variants(x, dim):
    a = _reduce64(x.abs(), dim, torch.amax)
    found = {
        "the scale is absmax / 128: absmax quantisation maps max|x| to 127, scale = "
        "absmax / 127": a / 128,
        "the scale is absmax / 255 (the zero-point range): absmax quantisation is "
        "symmetric, scale = absmax / 127": a / 255,
        "the scale is absmax / 127.5": a / 127.5,
        "the scale uses max(x), not max|x|: a large negative value must set the scale "
        "too": _reduce64(x, dim, torch.amax) / 127,
        "the scale is 127 / absmax (inverted): scale = absmax / 127, q = x / scale": 127
        / a,
    }
    if dim is not None:
        why = f"the scale was taken over the whole tensor: per channel needs one per index of dim={dim}"
        found[why] = _reduce64(x.abs(), None, torch.amax).expand(a.shape) / 127
    return found


@pytest.mark.parametrize("shape,dim", CASES)
def test_absmax(impl, device, shape, dim):
    x = _data(shape, 1 + len(shape), device)
    before = x.clone()
    kwargs = {} if dim is None else {"dim": dim}
    out = call(impl.quantize_absmax, x, what="quantize_absmax", **kwargs)
    assert_unchanged(before, x, "x")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        "quantize_absmax must return (q, scale)"
    )
    q, scale = out
    context = _describe(dim, x)
    _scale_shape(scale, x, dim, "scale")
    assert scale.is_floating_point(), (
        f"scale: expected a float tensor, got {scale.dtype}"
    )
    expected = _reduce64(x.abs(), dim, torch.amax) / 127
    got = scale.detach().cpu().double().reshape(expected.shape)
    assert_close_diagnosed(
        got,
        expected,
        lambda: _absmax_variants(x, dim),
        what="scale",
        atol=0,
        rtol=1e-6,
        context=context,
    )
    _check_q(q, x, scale, 0, -127, 127, context, dim)
    assert q.detach().abs().max().item() == 127, (
        f"q [{context}]: max|q| is {q.abs().max().item()}, expected 127 (the absmax maps "
        "to +-127)"
    )
    deq = call(impl.dequantize, q, scale, what="dequantize")
    _check_dequantize(deq, q, scale, None, x, context)
    err = (deq.detach().cpu().double() - x.cpu().double()).abs()
    bound = _expand(scale, x) * (0.5 + 1e-3)
    assert (err <= bound).all(), (
        f"round trip [{context}]: dequantize(quantize_absmax(x)) is off by up to "
        f"{(err / _expand(scale, x)).max().item():.3f} scales, expected at most 0.5"
    )


# -- zero-point ------------------------------------------------------------------------------
def _check_dequantize(deq, q, scale, zp, x, context):
    assert_tensor(deq, "dequantize(...)")
    assert deq.is_floating_point(), (
        f"dequantize(...): expected a float tensor, got {deq.dtype}"
    )
    s = _expand(scale, x)
    qd = q.detach().cpu().double()
    expected = qd * s if zp is None else (qd - _expand(zp, x)) * s
    found = {}
    if zp is not None:
        zd = _expand(zp, x)
        wrapped = ((q.detach().cpu().long() - zd.long() + 128) % 256 - 128).double()
        found = {
            "q - zero_point overflowed int8 (wrapped around): cast q to float (or int32) "
            "before subtracting the zero point": wrapped * s,
            "the zero point was added, (q + zero_point) * scale: dequantize subtracts it, "
            "(q - zero_point) * scale": (qd + zd) * s,
            "the zero point is ignored: (q - zero_point) * scale": qd * s,
        }
    assert_close_diagnosed(
        deq.detach().cpu().double(),
        expected,
        lambda: found,
        what="dequantize(q, scale, zero_point)",
        atol=1e-5,
        rtol=1e-5,
        context=context,
    )
    assert deq.device.type == x.device.type, (
        f"dequantize: on {deq.device.type}, expected {x.device.type}"
    )


def _zp_variants(x, dim):
    lo = _reduce64(x, dim, torch.amin)
    hi = _reduce64(x, dim, torch.amax)
    found = {
        "the scale is (max - min) / 256: 256 levels span 255 steps, scale = "
        "(max - min) / 255": (hi - lo) / 256,
        "the scale is absmax / 127 (symmetric): zero-point quantisation uses the "
        "range, scale = (max - min) / 255": _reduce64(x.abs(), dim, torch.amax) / 127,
        "the scale is max / 255 with min ignored: scale = (max - min) / 255": hi / 255,
    }
    if dim is not None:
        why = f"the min and max were taken over the whole tensor: per channel needs one per index of dim={dim}"
        found[why] = ((hi.max() - lo.min()) / 255).expand(hi.shape)
    return found


def _run_zp(impl, x, dim):
    before = x.clone()
    kwargs = {} if dim is None else {"dim": dim}
    out = call(impl.quantize_zeropoint, x, what="quantize_zeropoint", **kwargs)
    assert_unchanged(before, x, "x")
    assert isinstance(out, (tuple, list)) and len(out) == 3, (
        "quantize_zeropoint must return (q, scale, zero_point)"
    )
    q, scale, zp = out
    _scale_shape(scale, x, dim, "scale")
    assert scale.is_floating_point(), (
        f"scale: expected a float tensor, got {scale.dtype}"
    )
    zp_t = torch.as_tensor(zp)
    if zp_t.numel() > 1:
        _scale_shape(zp_t, x, dim, "zero_point")
    zd = zp_t.detach().cpu().double()
    assert torch.equal(zd, zd.round()), (
        f"zero_point must be integer-valued (so that 0 is exact), got {zd.flatten()[:4]}"
    )
    return q, scale, zp


def _roundtrip(impl, q, scale, zp, x, context):
    deq = call(impl.dequantize, q, scale, zp, what="dequantize")
    _check_dequantize(deq, q, scale, zp, x, context)
    return (deq.detach().cpu().double() - x.detach().cpu().double()).abs()


@pytest.mark.parametrize("shape,dim", CASES)
def test_zeropoint_mixed_sign(impl, device, shape, dim):
    x = _data(shape, 20 + len(shape), device)
    context = _describe(dim, x) + ", data crossing 0"
    lo = _reduce64(x, dim, torch.amin)
    hi = _reduce64(x, dim, torch.amax)
    assert (lo < 0).all() and (hi > 0).all()  # the test's own premise
    q, scale, zp = _run_zp(impl, x, dim)
    expected = (hi - lo) / 255
    assert_close_diagnosed(
        scale.detach().cpu().double().reshape(expected.shape),
        expected,
        lambda: _zp_variants(x, dim),
        what="scale",
        atol=0,
        rtol=1e-6,
        context=context,
    )
    zd = torch.as_tensor(zp).detach().cpu().double()
    zd, ideal = zd.flatten(), (-128 - lo / expected).flatten()
    if ((zd - ideal).abs() > 1).any():
        flipped = ((-zd - ideal).abs() <= 1).all()
        raise AssertionError(
            f"zero_point [{context}]: got {zd.flatten()[:4].tolist()}, expected about "
            f"{ideal.flatten()[:4].tolist()} (round(-128 - min / scale), so min lands on "
            "-128)"
            + (
                "\nlikely bug: the zero point's sign is flipped: with x ~ (q - zero_point) "
                "* scale it is round(-128 - min / scale)"
                if flipped
                else ""
            )
        )
    _check_q(q, x, scale, zp, -128, 127, context, dim)
    err = _roundtrip(impl, q, scale, zp, x, context)
    bound = _expand(scale, x) * (0.5 + 1e-3)
    assert (err <= bound).all(), (
        f"round trip [{context}]: off by up to {(err / _expand(scale, x)).max():.3f} scales, "
        "expected at most 0.5: min and max must both land inside [-128, 127]"
    )


@pytest.mark.parametrize("kind", ["positive", "negative"])
@pytest.mark.parametrize("dim", [None, 0])
def test_zeropoint_one_sign(impl, device, kind, dim):
    x = _data((6, 10), 30, device, kind)
    context = _describe(dim, x) + f", all {kind}"
    q, scale, zp = _run_zp(impl, x, dim)
    assert_tensor(q, "q")
    assert q.dtype == torch.int8, f"q: dtype expected torch.int8, got {q.dtype}"
    qi = q.detach().cpu().long()
    assert qi.min() >= -128 and qi.max() <= 127
    err = _roundtrip(impl, q, scale, zp, x, context)
    absmax = _expand(_reduce64(x.abs(), dim, torch.amax), x)
    worst = (err / absmax).max().item() * 510
    assert worst <= 1 + 1e-3, (
        f"round trip [{context}]: errors up to {worst:.3f} x max|x| / 510; either range "
        "convention keeps them within max|x| / 510 (half a step of the range [0, max] or "
        "[min, 0] over 255 steps)"
    )


def test_zeropoint_dequantize_does_not_overflow(impl, device):
    # Mostly positive data: min near -1, so the zero point sits near -110 and q - zp reaches
    # ~237, beyond int8.
    x = _data((5, 9), 40, device, "mostly_positive")
    q, scale, zp = _run_zp(impl, x, None)
    context = "per tensor, data from about -0.5 to 20"
    _check_q(q, x, scale, zp, -128, 127, context, None)
    err = _roundtrip(impl, q, scale, zp, x, context)
    assert (err <= _expand(scale, x) * (0.5 + 1e-3)).all(), (
        f"round trip [{context}]: off by up to {err.max():.3g}"
    )


def test_absmax_float64_input(impl, device):
    x = _data((4, 8), 50, device).double()
    q, scale = call(impl.quantize_absmax, x, 0, what="quantize_absmax")
    _scale_shape(scale, x, 0, "scale")
    assert_close(
        scale.detach().cpu().double().reshape(4, 1),
        _reduce64(x.abs(), 0, torch.amax) / 127,
        what="scale",
        atol=0,
        rtol=1e-6,  # a scale computed in float32 is fine: q is checked against its own scale
        check_dtype=False,
        context="float64 x, dim=0",
    )
    _check_q(q, x, scale, 0, -127, 127, "float64 x, dim=0", 0)
