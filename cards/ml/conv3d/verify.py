"""Verifier for conv3d: against torch.nn.functional.conv3d run in float64 on the CPU with the same
arguments, on odd shapes (non-cubic kernels, unequal (d, h, w) strides and paddings, windows that
do not fit), non-contiguous inputs, float64, and through its gradients.

A wrong output shape is explained by the output-size mistakes it matches (ceil instead of floor,
padding ignored or counted once, the (d, h, w) tuples read backwards); a wrong value by the
classic mistakes it equals (a flipped kernel, padding on one side only, bias missing, the kernel's
depth axis ignored)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    FLOAT64_EXACT,
    assert_close,
    assert_close_diagnosed,
    assert_float64_math,
    assert_unchanged,
    call,
    randn,
)

ATOL, RTOL = 1e-4, 1e-4  # float32 sums over up to a few hundred products


@pytest.fixture(autouse=True)
def _full_float32_on_cuda():
    """Keep float32 matmuls in full precision on CUDA (no TF32), whatever the process default,
    for the comparison with float64; restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def _ref(x, w, b, stride, padding):
    """F.conv3d in float64 on the CPU, returned on x's device in x's dtype."""
    out = F.conv3d(
        x.detach().cpu().double(),
        w.detach().cpu().double(),
        None if b is None else b.detach().cpu().double(),
        stride,
        padding,
    )
    return out.to(device=x.device, dtype=x.dtype)


def _shape_mistakes(x, w, stride, padding):
    """{why: the output shape that mistake gives} for the classic output-size mistakes."""
    n, _, *size = x.shape
    o, _, *kernel = w.shape
    s, p = _triple(stride), _triple(padding)

    def shape(s=s, p=p, ceil=False):
        dims = []
        for i in range(3):
            span = size[i] + 2 * p[i] - kernel[i]
            dims.append((-(-span // s[i]) if ceil else span // s[i]) + 1)
        return (n, o, *dims)

    return {
        "the output size was rounded up (ceil): conv3d uses the floor, D_out = (D + 2*pD - "
        "kD) // sD + 1, dropping a last window that does not fit": shape(ceil=True),
        "the padding was counted once, not on both sides (D + 2*pD in the output size)": shape(
            p=tuple(v / 2 for v in p)
        ),
        "padding was ignored": shape(p=(0, 0, 0)),
        "stride was ignored": shape(s=(1, 1, 1)),
        "the (d, h, w) tuples were read backwards: stride[0] and padding[0] are the depth's, "
        "stride[2] and padding[2] the width's": shape(s=s[::-1], p=p[::-1]),
    }


def _value_mistakes(x, w, b, stride, padding):
    """{why: output} for the classic value mistakes, computed with F.conv3d in float64."""
    x = x.detach().cpu().double()
    w = w.detach().cpu().double()
    b = None if b is None else b.detach().cpu().double()
    pd, ph, pw = _triple(padding)

    def conv(xx=x, ww=w, bb=b, pad=padding):
        return lambda: F.conv3d(xx, ww, bb, stride, pad)

    found = {
        "the kernel was flipped (true convolution): conv3d is cross-correlation, "
        "no flip of the kernel": conv(ww=w.flip(-1, -2, -3)),
        "the padding went on one side only (the input was placed in the first corner of the "
        "padded buffer): pad p zeros on each side of D, H and W": conv(
            xx=F.pad(x, (0, 2 * pw, 0, 2 * ph, 0, 2 * pd)), pad=0
        ),
        "the padding went on one side only (the input was placed in the last corner of the "
        "padded buffer): pad p zeros on each side of D, H and W": conv(
            xx=F.pad(x, (2 * pw, 0, 2 * ph, 0, 2 * pd, 0)), pad=0
        ),
    }
    if b is not None:
        found["the bias was not added"] = conv(bb=None)
    return found


def _check(out, x, w, b, stride, padding, context, what="output"):
    expected = _ref(x, w, b, stride, padding)
    if isinstance(out, torch.Tensor) and out.shape != expected.shape:
        hits = [
            why
            for why, shape in _shape_mistakes(x, w, stride, padding).items()
            if tuple(shape) == tuple(out.shape)
            and tuple(shape) != tuple(expected.shape)
        ]
        note = "".join(
            f"\nlikely bug (the shape matches this mistake): {why}" for why in hits
        )
        raise AssertionError(
            f"{what} [{context}]: shape expected {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}{note}"
        )
    atol, rtol = ATOL, RTOL
    if x.dtype == torch.float64:
        assert_float64_math(out, expected, what, context, loose=(ATOL, RTOL))
        atol, rtol = FLOAT64_EXACT
    assert_close_diagnosed(
        out,
        expected,
        lambda: _value_mistakes(x, w, b, stride, padding),
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _inputs(shape, o, kernel, seed, device, dtype=torch.float32, bias=True):
    x = randn(shape, seed, device, dtype)
    c = shape[1]
    fan_in = c * kernel[0] * kernel[1] * kernel[2]
    w = randn((o, c, *kernel), seed + 1, device, dtype, scale=fan_in**-0.5)
    b = randn((o,), seed + 2, device, dtype) if bias else None
    return x, w, b


# (input shape, O, kernel, stride, padding, bias)
CASES = [
    ((2, 3, 5, 6, 7), 4, (3, 3, 3), 1, 0, True),
    ((1, 2, 6, 7, 5), 3, (2, 3, 2), 1, 1, False),
    ((2, 2, 7, 8, 9), 3, (3, 3, 3), 2, 1, True),  # floor: last windows do not fit
    ((1, 3, 6, 9, 7), 2, (3, 2, 3), (1, 2, 3), (2, 1, 0), True),
    ((2, 2, 4, 5, 6), 5, (1, 1, 1), 1, 0, True),  # 1x1x1
    ((1, 2, 9, 4, 5), 2, (4, 2, 2), (3, 1, 2), (0, 1, 1), True),
    ((1, 2, 3, 4, 5), 3, (3, 4, 5), 1, 0, True),  # the kernel covers the whole input
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", "")
)
def test_matches_torch_conv3d(impl, device, case):
    shape, o, kernel, stride, padding, bias = case
    x, w, b = _inputs(shape, o, kernel, sum(shape) + o, device, bias=bias)
    saved = [t.clone() for t in (x, w)]
    out = call(impl.conv3d, x, w, b, stride=stride, padding=padding, what="conv3d")
    assert_unchanged(saved[0], x, "input")
    assert_unchanged(saved[1], w, "weight")
    _check(
        out,
        x,
        w,
        b,
        stride,
        padding,
        f"input {shape}, weight {tuple(w.shape)}, bias={bias}, stride={stride}, "
        f"padding={padding}",
    )


def test_defaults_and_positional_call(impl, device):
    x, w, b = _inputs((2, 2, 5, 6, 4), 3, (2, 3, 2), 40, device)
    _check(call(impl.conv3d, x, w), x, w, None, 1, 0, "conv3d(input, weight)")
    _check(
        call(impl.conv3d, x, w, b, 2, 1),
        x,
        w,
        b,
        2,
        1,
        "conv3d(input, weight, bias, 2, 1), positional",
    )


def test_non_contiguous_inputs(impl, device):
    # channels-last storage seen as (N, C, D, H, W), and a weight stored (C, O, ...) transposed.
    x = randn((2, 5, 6, 4, 3), 60, device).permute(0, 4, 1, 2, 3)
    w = randn((3, 4, 2, 3, 2), 61, device, scale=0.3).transpose(0, 1)
    b = randn((8,), 62, device)[::2]
    assert not x.is_contiguous() and not w.is_contiguous() and not b.is_contiguous()
    out = call(impl.conv3d, x, w, b, stride=(1, 2, 1), padding=1, what="conv3d")
    _check(out, x, w, b, (1, 2, 1), 1, "non-contiguous input, weight and bias")


def test_float64_keeps_dtype(impl, device):
    x, w, b = _inputs((1, 2, 5, 6, 7), 3, (3, 2, 3), 70, device, dtype=torch.float64)
    out = call(impl.conv3d, x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), what="conv3d")
    _check(out, x, w, b, (2, 1, 2), (1, 0, 1), "float64 input and weight")


def test_gradients_reach_input_weight_and_bias(impl, device):
    args = {"stride": (2, 1, 2), "padding": (1, 2, 0)}
    x, w, b = _inputs((2, 2, 6, 5, 7), 3, (3, 2, 3), 80, device)
    for t in (x, w, b):
        t.requires_grad_()
    out = call(impl.conv3d, x, w, b, **args, what="conv3d")
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: it must stay connected to input, weight and bias "
        "(no .detach(), no torch.no_grad, no rebuilding from Python numbers)"
    )
    ref = [t.detach().cpu().double().requires_grad_() for t in (x, w, b)]
    expected = F.conv3d(*ref, **args)
    assert out.shape == expected.shape, (
        f"output shape expected {tuple(expected.shape)}, got {tuple(out.shape)}"
    )
    up = randn(expected.shape, 90, "cpu", torch.float64)
    (out * up.to(device=device, dtype=out.dtype)).sum().backward()
    (expected * up).sum().backward()
    for name, t, r in zip(("input", "weight", "bias"), (x, w, b), ref):
        assert t.grad is not None, (
            f"no gradient reached `{name}`: is the output detached?"
        )
        assert_close(
            t.grad,
            r.grad.to(device=device, dtype=t.dtype),
            what=f"gradient of {name}",
            atol=ATOL,
            rtol=RTOL,
            context=str(args),
        )
