"""Verifier for conv2d: against torch.nn.functional.conv2d run in float64 on the CPU with the same
arguments, on odd shapes (non-square kernels, unequal tuple strides and paddings, dilation, groups,
depthwise, windows that do not fit, AlexNet's 11x11 stride-4 first layer), non-contiguous inputs,
float64, and through its gradients.

A wrong output shape is explained by the output-size mistakes it matches (ceil instead of floor,
dilation or padding left out of the size, h and w swapped); a wrong value by the classic mistakes
it equals (a flipped kernel, padding on one side only, bias missing, groups taken as interleaved
channels, dilation ignored)."""

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


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(size, k, s, p, d, ceil=False):
    span = size + 2 * p - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


def _ref(x, w, b, stride, padding, dilation, groups):
    """F.conv2d in float64 on the CPU, returned on x's device in x's dtype."""
    out = F.conv2d(
        x.detach().cpu().double(),
        w.detach().cpu().double(),
        None if b is None else b.detach().cpu().double(),
        stride,
        padding,
        dilation,
        groups,
    )
    return out.to(device=x.device, dtype=x.dtype)


def _shape_mistakes(x, w, stride, padding, dilation):
    """{why: the output shape that mistake gives} for the classic output-size mistakes."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)

    def shape(**kw_):
        hh = _out_size(
            h,
            kh,
            kw_.get("sh", sh),
            kw_.get("ph", ph),
            kw_.get("dh", dh),
            kw_.get("ceil", False),
        )
        ww = _out_size(
            wd,
            kw,
            kw_.get("sw", sw),
            kw_.get("pw", pw),
            kw_.get("dw", dw),
            kw_.get("ceil", False),
        )
        return (n, o, hh, ww)

    return {
        "the output size was rounded up (ceil): conv2d uses the floor, H_out = (H + 2*pH - "
        "dH*(kH - 1) - 1) // sH + 1, dropping a last window that does not fit": shape(
            ceil=True
        ),
        "dilation was left out of the output size or ignored: the kernel spans dH*(kH - 1) + "
        "1 rows": shape(dh=1, dw=1),
        "the padding was counted once, not on both sides (H + 2*pH in the output size)": shape(
            ph=0.5 * ph, pw=0.5 * pw
        ),
        "padding was ignored": shape(ph=0, pw=0),
        "the (h, w) tuples were read in the wrong order: stride/padding/dilation[0] is the "
        "height's": shape(sh=sw, sw=sh, ph=pw, pw=ph, dh=dw, dw=dh),
        "stride was ignored": shape(sh=1, sw=1),
    }


def _value_mistakes(x, w, b, stride, padding, dilation, groups):
    """{why: output} for the classic value mistakes, computed with F.conv2d in float64."""
    x = x.detach().cpu().double()
    w = w.detach().cpu().double()
    b = None if b is None else b.detach().cpu().double()
    (ph, pw) = _pair(padding)

    def conv(xx=x, ww=w, bb=b, pad=padding, dil=dilation):
        return lambda: F.conv2d(xx, ww, bb, stride, pad, dil, groups)

    found = {
        "the kernel was flipped (true convolution): conv2d is cross-correlation, "
        "out = Σ weight[a, b] · x[i·s + a, j·s + b] with no flip": conv(
            ww=w.flip(-1, -2)
        ),
        "the padding went on one side only (the input was placed in the top-left corner of "
        "the padded buffer): pad p zeros on each side, top and bottom, left and right": conv(
            xx=F.pad(x, (0, 2 * pw, 0, 2 * ph)), pad=0
        ),
        "the padding went on one side only (the input was placed in the bottom-right corner "
        "of the padded buffer): pad p zeros on each side": conv(
            xx=F.pad(x, (2 * pw, 0, 2 * ph, 0)), pad=0
        ),
    }
    if b is not None:
        found["the bias was not added"] = conv(bb=None)
    if groups > 1:
        c = x.shape[1]
        # channel c taken as belonging to group c % groups instead of c // (C / groups)
        perm = torch.arange(c).reshape(c // groups, groups).t().reshape(-1)
        found[
            "the groups were taken as interleaved channels: group g holds the consecutive "
            "channels g*C/groups ... (g+1)*C/groups - 1 (and filters likewise)"
        ] = conv(xx=x[:, perm])
    return found


def _check(out, x, w, b, stride, padding, dilation, groups, context, what="output"):
    expected = _ref(x, w, b, stride, padding, dilation, groups)
    if isinstance(out, torch.Tensor) and out.shape != expected.shape:
        hits = [
            why
            for why, shape in _shape_mistakes(x, w, stride, padding, dilation).items()
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
        lambda: _value_mistakes(x, w, b, stride, padding, dilation, groups),
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _inputs(
    n, c, h, wd, o, groups, kh, kw, seed, device, dtype=torch.float32, bias=True
):
    x = randn((n, c, h, wd), seed, device, dtype)
    fan_in = c // groups * kh * kw
    w = randn((o, c // groups, kh, kw), seed + 1, device, dtype, scale=fan_in**-0.5)
    b = randn((o,), seed + 2, device, dtype) if bias else None
    return x, w, b


# (N, C, H, W, O, groups, kH, kW, stride, padding, dilation, bias)
CASES = [
    (2, 3, 7, 9, 4, 1, 3, 3, 1, 0, 1, True),
    (2, 3, 8, 7, 5, 1, 3, 2, 1, 1, 1, False),
    (1, 2, 9, 10, 3, 1, 3, 3, 2, 1, 1, True),  # floor: the last window does not fit
    (2, 4, 11, 8, 6, 1, 2, 3, (2, 1), (1, 2), 1, True),
    (2, 3, 10, 11, 4, 1, 3, 2, (1, 3), (2, 0), (2, 1), True),
    (1, 2, 12, 9, 3, 1, 3, 3, 1, 2, 2, True),
    (2, 4, 7, 8, 6, 2, 3, 3, 1, 1, 1, True),  # grouped
    (2, 6, 9, 7, 6, 6, 3, 3, 2, 1, 1, False),  # depthwise
    (2, 6, 8, 8, 4, 2, 1, 1, 1, 0, 1, True),  # 1x1, grouped
    (1, 3, 5, 6, 2, 1, 5, 6, 1, 0, 1, True),  # the kernel covers the whole input
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", "")
)
def test_matches_torch_conv2d(impl, device, case):
    n, c, h, wd, o, groups, kh, kw, stride, padding, dilation, bias = case
    x, w, b = _inputs(n, c, h, wd, o, groups, kh, kw, sum(case[:8]), device, bias=bias)
    saved = [t.clone() for t in (x, w)]
    out = call(
        impl.conv2d,
        x,
        w,
        b,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        what="conv2d",
    )
    assert_unchanged(saved[0], x, "input")
    assert_unchanged(saved[1], w, "weight")
    _check(
        out,
        x,
        w,
        b,
        stride,
        padding,
        dilation,
        groups,
        f"input {(n, c, h, wd)}, weight {tuple(w.shape)}, bias={bias}, stride={stride}, "
        f"padding={padding}, dilation={dilation}, groups={groups}",
    )


def test_defaults_and_positional_call(impl, device):
    x, w, b = _inputs(2, 3, 6, 7, 4, 1, 3, 3, 40, device)
    _check(call(impl.conv2d, x, w), x, w, None, 1, 0, 1, 1, "conv2d(input, weight)")
    _check(
        call(impl.conv2d, x, w, b, 2, 1, 1, 1),
        x,
        w,
        b,
        2,
        1,
        1,
        1,
        "conv2d(input, weight, bias, 2, 1, 1, 1), positional",
    )


def test_alexnet_first_layer_geometry(impl, device):
    # AlexNet's conv1: 11x11 kernel, stride 4, padding 2 (227x227 -> 55x55); here 35x31 -> 8x7.
    x, w, b = _inputs(2, 3, 35, 31, 8, 1, 11, 11, 50, device)
    out = call(impl.conv2d, x, w, b, stride=4, padding=2, what="conv2d")
    _check(
        out, x, w, b, 4, 2, 1, 1, "AlexNet conv1 geometry: 11x11, stride 4, padding 2"
    )
    assert tuple(out.shape) == (2, 8, 8, 7)


def test_non_contiguous_inputs(impl, device):
    # NHWC storage seen as NCHW, and a weight stored (C, O, kH, kW) seen as (O, C, kH, kW).
    x = randn((2, 9, 8, 4), 60, device).permute(0, 3, 1, 2)
    w = randn((2, 6, 3, 2), 61, device, scale=0.3).transpose(0, 1)
    b = randn((12,), 62, device)[::2]
    assert not x.is_contiguous() and not w.is_contiguous() and not b.is_contiguous()
    out = call(impl.conv2d, x, w, b, stride=(2, 1), padding=1, groups=2, what="conv2d")
    _check(out, x, w, b, (2, 1), 1, 1, 2, "non-contiguous input, weight and bias")


def test_float64_keeps_dtype(impl, device):
    x, w, b = _inputs(2, 4, 9, 8, 4, 2, 3, 2, 70, device, dtype=torch.float64)
    out = call(
        impl.conv2d, x, w, b, stride=2, padding=(1, 0), dilation=(1, 2), groups=2
    )
    _check(out, x, w, b, 2, (1, 0), (1, 2), 2, "float64 input and weight")


@pytest.mark.parametrize(
    "args",
    [
        {"stride": (2, 1), "padding": (1, 2), "dilation": 1, "groups": 1},
        {"stride": 1, "padding": 1, "dilation": 2, "groups": 2},
    ],
    ids=["strided", "dilated-grouped"],
)
def test_gradients_reach_input_weight_and_bias(impl, device, args):
    x, w, b = _inputs(2, 4, 9, 8, 6, args["groups"], 3, 3, 80 + args["groups"], device)
    x.requires_grad_()
    w.requires_grad_()
    b.requires_grad_()
    out = call(impl.conv2d, x, w, b, **args, what="conv2d")
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: it must stay connected to input, weight and bias "
        "(no .detach(), no torch.no_grad, no rebuilding from Python numbers)"
    )
    ref = [t.detach().cpu().double().requires_grad_() for t in (x, w, b)]
    expected = F.conv2d(*ref, **args)
    up = randn(expected.shape, 90, "cpu", torch.float64)
    assert out.shape == expected.shape, (
        f"output shape expected {tuple(expected.shape)}, got {tuple(out.shape)}"
    )
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
