"""Verifier for max_pool2d: against torch.nn.functional.max_pool2d with the same arguments (a max
is exact, so the comparison is exact in every dtype), for int and tuple arguments, stride None,
overlapping windows (AlexNet's 3x3 stride-2 pools), padding next to all-negative inputs, windows
that do not fit, float64 and half precision, non-contiguous inputs, and gradients on inputs
without ties.

A wrong output shape is explained by the output-size mistakes it matches (stride None taken as 1,
a given stride ignored, ceil instead of floor, padding ignored, h and w swapped); a wrong value by
the classic mistakes it equals (zero padding, padding on one side, an average instead of a max)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _ref(x, kernel_size, stride, padding):
    """F.max_pool2d on the CPU in float64 (exact for every dtype here), on x's device and dtype."""
    out = F.max_pool2d(x.detach().cpu().double(), kernel_size, stride, padding)
    return out.to(device=x.device, dtype=x.dtype)


def _shape_mistakes(x, kernel_size, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(stride) if stride else (kh, kw)

    def shape(sh=sh, sw=sw, ph=ph, pw=pw, kh=kh, kw=kw, ceil=False):
        def size(n_, k, s, p):
            span = n_ + 2 * p - k
            return (-(-span // s) if ceil else span // s) + 1

        return (n, c, size(h, kh, sh, ph), size(w, kw, sw, pw))

    found = {
        "the output size was rounded up (ceil): max_pool2d uses the floor, H_out = (H + 2*pH "
        "- kH) // sH + 1, dropping a last window that does not fit": shape(ceil=True),
        "padding was ignored (pad the border with -inf, pH on each side)": shape(
            ph=0, pw=0
        ),
        "the padding was counted once, not on both sides (H + 2*pH in the output size)": shape(
            ph=ph / 2, pw=pw / 2
        ),
        "the (h, w) tuples were read in the wrong order: kernel_size/stride/padding[0] is the "
        "height's": shape(sh=sw, sw=sh, ph=pw, pw=ph, kh=kw, kw=kh),
    }
    if stride:
        found[
            "the stride was ignored (windows taken as non-overlapping kernel_size blocks): a "
            "given stride smaller than the kernel makes the windows overlap"
        ] = shape(sh=kh, sw=kw)
    else:
        found[
            "stride=None was taken as stride 1: None means stride = kernel_size, as in torch"
        ] = shape(sh=1, sw=1)
    return found


def _value_mistakes(x, kernel_size, stride, padding):
    x = x.detach().cpu().double()
    ph, pw = _pair(padding)
    s = stride if stride else kernel_size
    inf = float("-inf")
    return {
        "the border was padded with zeros: padding acts as -inf in max pooling, so a window "
        "of negative values keeps its own max": lambda: F.max_pool2d(
            F.pad(x, (pw, pw, ph, ph)), kernel_size, s
        ),
        "the padding went on one side only (all of it before the input): pad pH rows above "
        "and below, pW columns left and right": lambda: F.max_pool2d(
            F.pad(x, (2 * pw, 0, 2 * ph, 0), value=inf), kernel_size, s
        ),
        "the padding went on one side only (all of it after the input): pad pH rows above "
        "and below, pW columns left and right": lambda: F.max_pool2d(
            F.pad(x, (0, 2 * pw, 0, 2 * ph), value=inf), kernel_size, s
        ),
        "the windows were averaged, not maxed": lambda: F.avg_pool2d(
            x, kernel_size, s, padding, count_include_pad=False
        ),
    }


def _check(out, x, kernel_size, stride, padding, context, what="output"):
    expected = _ref(x, kernel_size, stride, padding)
    if isinstance(out, torch.Tensor) and out.shape != expected.shape:
        hits = [
            why
            for why, shape in _shape_mistakes(x, kernel_size, stride, padding).items()
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
    assert_close_diagnosed(
        out,
        expected,
        lambda: _value_mistakes(x, kernel_size, stride, padding),
        what=what,
        atol=0.0,
        rtol=0.0,  # a max picks one of the inputs: exact
        context=context,
    )


def _pool(impl, x, kernel_size, stride, padding):
    kwargs = {}
    if stride is not None:
        kwargs["stride"] = stride
    if padding:
        kwargs["padding"] = padding
    return call(impl.max_pool2d, x, kernel_size, **kwargs, what="max_pool2d")


# (input shape, kernel_size, stride, padding, offset added to the input)
CASES = [
    ((2, 3, 8, 8), 2, None, 0, 0.0),
    ((2, 3, 9, 7), 2, None, 0, 0.0),  # floor: the last row and column are dropped
    ((1, 2, 9, 10), 3, 2, 1, -4.0),  # overlapping, padded, all-negative input
    ((2, 2, 10, 9), (3, 2), (2, 1), (1, 0), -4.0),
    ((1, 3, 7, 11), (2, 4), None, (1, 2), -4.0),
    ((2, 1, 8, 6), 3, 1, 1, 0.0),
    ((1, 2, 5, 4), (5, 4), None, 0, 0.0),  # one window covers the whole input
    ((3, 2, 6, 6), 1, 1, 0, 0.0),
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: "-".join(map(str, c[:4])).replace(" ", "")
)
def test_matches_torch_max_pool2d(impl, device, case):
    shape, kernel_size, stride, padding, offset = case
    x = randn(shape, sum(shape), device) + offset
    before = x.clone()
    out = _pool(impl, x, kernel_size, stride, padding)
    assert_unchanged(before, x, "input")
    _check(
        out,
        x,
        kernel_size,
        stride,
        padding,
        f"input {shape}{' shifted to negative values' if offset else ''}, "
        f"kernel_size={kernel_size}, stride={stride}, padding={padding}",
    )


def test_positional_call(impl, device):
    x = randn((2, 2, 9, 8), 30, device) - 4.0
    out = call(impl.max_pool2d, x, 3, 2, 1, what="max_pool2d")
    _check(out, x, 3, 2, 1, "max_pool2d(x, 3, 2, 1), positional, negative input")
    out = call(impl.max_pool2d, x, (2, 3), what="max_pool2d")
    _check(
        out, x, (2, 3), None, 0, "max_pool2d(x, (2, 3)): stride defaults to kernel_size"
    )


def test_alexnet_overlapping_pool(impl, device):
    # AlexNet pools 3x3 with stride 2 (55x55 -> 27x27); here 15x13 -> 7x6.
    x = randn((2, 4, 15, 13), 40, device)
    out = call(impl.max_pool2d, x, 3, stride=2, what="max_pool2d")
    _check(out, x, 3, 2, 0, "AlexNet geometry: 3x3 windows, stride 2 (overlapping)")
    assert tuple(out.shape) == (2, 4, 7, 6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_keeps_dtype(impl, device, dtype):
    x = randn((2, 3, 9, 8), 50, device, dtype) - 2.0
    out = _pool(impl, x, (3, 2), (2, 2), (1, 1))
    _check(out, x, (3, 2), (2, 2), (1, 1), f"{dtype} input")


def test_non_contiguous_input(impl, device):
    x = randn((2, 9, 10, 3), 60, device).permute(0, 3, 1, 2)  # NHWC storage
    assert not x.is_contiguous()
    out = _pool(impl, x, 3, 2, 1)
    _check(out, x, 3, 2, 1, "non-contiguous (channels-last) input")


@pytest.mark.parametrize(
    "args",
    [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1))],
    ids=["2", "3-2-1", "tuples"],
)
def test_gradient_goes_to_the_max(impl, device, args):
    kernel_size, stride, padding = args
    # Distinct values (a shuffled range): no ties, so the gradient has one right answer.
    g = torch.Generator().manual_seed(70)
    x = (torch.randperm(2 * 3 * 9 * 8, generator=g).double() / 100 - 3).reshape(
        2, 3, 9, 8
    )
    x = x.to(device=device, dtype=torch.float32).requires_grad_()
    out = _pool(impl, x, kernel_size, stride, padding)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: it must stay connected to the input (no .detach(), "
        "no torch.no_grad, no values rebuilt from indices without autograd)"
    )
    ref = x.detach().cpu().double().requires_grad_()
    expected = F.max_pool2d(ref, kernel_size, stride, padding)
    assert out.shape == expected.shape, (
        f"output shape expected {tuple(expected.shape)}, got {tuple(out.shape)}"
    )
    up = randn(expected.shape, 71, "cpu", torch.float64)
    (out * up.to(device=device, dtype=out.dtype)).sum().backward()
    (expected * up).sum().backward()
    assert x.grad is not None, "no gradient reached the input: is the output detached?"
    assert_close(
        x.grad,
        ref.grad.to(device=device, dtype=x.dtype),
        what="gradient of input",
        atol=1e-5,
        rtol=1e-5,
        context=f"kernel_size={kernel_size}, stride={stride}, padding={padding}: each output's "
        "gradient goes to its window's max, summed where overlapping windows share it",
    )
