"""Verifier for gram_matrix, style_loss and content_loss: against the formulas in float64 on the
CPU, for batches of several samples, odd sizes, style maps of another H x W, float64 and float32,
and through the gradients.

On a failed comparison the message names the classic mistake the values match: a Gram matrix not
normalised, normalised by H*W or by B*C*H*W (the PyTorch tutorial's divisor), centred (a
covariance), or built as Fᵀ F or over the flattened batch (from its shape); a loss summed instead
of averaged, averaged per C x C only, not squared, the style Gram normalised by the generated
map's size."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
)


@pytest.fixture(autouse=True)
def _full_float32_on_cuda():
    """Keep float32 matmuls in full precision on CUDA (no TF32), whatever the process default,
    for the comparison with float64; restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _gram64(f, norm="chw"):
    f = f.detach().cpu().double()
    b, c, h, w = f.shape
    m = f.reshape(b, c, h * w)
    g = m @ m.transpose(1, 2)
    return g / {"chw": c * h * w, "hw": h * w, "bchw": b * c * h * w, "none": 1}[norm]


def _tol(dtype):
    return (1e-5, 1e-4)  # float64 too: the dtype is checked, the precision is not


def _gram_variants(f):
    x = f.detach().cpu().double()
    _, c, h, w = x.shape
    centred = x - x.mean((2, 3), keepdim=True)
    return {
        "the Gram matrix was not normalised: divide F Fᵀ by C*H*W": _gram64(x, "none"),
        "the Gram matrix was divided by H*W only: divide by C*H*W": _gram64(x, "hw"),
        "the Gram matrix was divided by B*C*H*W (the batch size too): each sample's Gram "
        "matrix is divided by its own C*H*W": _gram64(x, "bchw"),
        "the features were centred (that is a covariance): the Gram matrix uses the raw "
        "features": _gram64(centred),
        "the Gram matrix was divided by C*H*W twice (or by (C*H*W)²)": _gram64(x)
        / (c * h * w),
    }


def _gram_shape_note(out, f):
    b, c, h, w = f.shape
    hints = {
        (
            b,
            h * w,
            h * w,
        ): "the Gram matrix was built as Fᵀ F, (H*W) x (H*W): it is F Fᵀ, "
        "C x C, with F of shape (C, H*W)",
        (
            b * c,
            b * c,
        ): "the batch was flattened into the channels (features.view(B*C, H*W), "
        "as in the PyTorch tutorial, which assumes B = 1): compute one C x C matrix per sample",
        (c, c): "the samples were merged into one C x C matrix: return one per sample, "
        "(B, C, C)",
    }
    return hints.get(tuple(out.shape), "") if isinstance(out, torch.Tensor) else ""


def _check_gram(out, f, context):
    expected = _gram64(f).to(device=f.device, dtype=f.dtype)
    if isinstance(out, torch.Tensor) and out.shape != expected.shape:
        note = _gram_shape_note(out, f)
        raise AssertionError(
            f"gram_matrix [{context}]: shape expected {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}"
            + (f"\nlikely bug (the shape matches this mistake): {note}" if note else "")
        )
    atol, rtol = _tol(f.dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _gram_variants(f),
        what="gram_matrix",
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _style64(gen, style):
    d = _gram64(gen) - _gram64(style)
    return d.pow(2).mean()


def _style_variants(gen, style):
    g, s = _gram64(gen), _gram64(style)
    d = g - s
    b, c = d.shape[:2]
    _, _, h, w = gen.shape
    so = style.detach().cpu().double()
    s_by_gen = so.reshape(b, c, -1) @ so.reshape(b, c, -1).transpose(1, 2) / (c * h * w)
    return {
        "the style loss was summed, not averaged: take the mean over all B*C*C entries": d.pow(
            2
        ).sum(),
        "the style loss was averaged over the C*C entries of each sample, then summed over "
        "the batch: take the mean over all B*C*C entries": d.pow(2).sum() / (c * c),
        "the difference was not squared (an L1 / mean absolute difference)": d.abs().mean(),
        "the style loss is a root mean square (sqrt was taken): no square root": d.pow(
            2
        )
        .mean()
        .sqrt(),
        "the style's Gram matrix was normalised by the generated map's size: each Gram matrix "
        "is divided by its own C*H*W": (g - s_by_gen).pow(2).mean(),
        "the Gram matrices were not normalised (F Fᵀ without / (C*H*W))": (
            _gram64(gen, "none") - _gram64(style, "none")
        )
        .pow(2)
        .mean(),
        "the Gram matrices were divided by H*W only, not C*H*W": (
            _gram64(gen, "hw") - _gram64(style, "hw")
        )
        .pow(2)
        .mean(),
        "the Gram matrices were divided by B*C*H*W (the batch size too)": (
            _gram64(gen, "bchw") - _gram64(style, "bchw")
        )
        .pow(2)
        .mean(),
    }


def _content_variants(gen, target):
    d = gen.detach().cpu().double() - target.detach().cpu().double()
    return {
        "the content loss was summed, not averaged: take the mean over all elements": d.pow(
            2
        ).sum(),
        "the difference was not squared (an L1 / mean absolute error)": d.abs().mean(),
        "the content loss is a root mean square (sqrt was taken): no square root": d.pow(
            2
        )
        .mean()
        .sqrt(),
        "the content loss was halved (the ½·Σ of the paper): take the mean squared error": d.pow(
            2
        ).mean()
        / 2,
    }


def _check_loss(out, expected, variants, dtype, device, what, context):
    assert isinstance(out, torch.Tensor), (
        f"{what}: expected a tensor, got {type(out).__name__}"
    )
    assert out.shape == (), (
        f"{what} [{context}]: expected a 0-dim tensor (one mean), got shape {tuple(out.shape)}"
    )
    atol, rtol = _tol(dtype)
    assert_close_diagnosed(
        out,
        expected.to(device=device, dtype=dtype),
        variants,
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


SHAPES = [(2, 3, 4, 5), (3, 5, 3, 3), (1, 4, 7, 2), (2, 6, 1, 9)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_gram_matrix(impl, device, shape, dtype):
    f = randn(shape, sum(shape), device, dtype) + 0.5  # a non-zero mean: centring shows
    before = f.clone()
    out = call(impl.gram_matrix, f, what="gram_matrix")
    assert_unchanged(before, f, "features")
    _check_gram(out, f, f"features of shape {shape}, {dtype}")


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 3, 4, 5), (2, 3, 4, 5)),
        ((2, 4, 5, 3), (2, 4, 7, 6)),
        ((3, 2, 6, 6), (3, 2, 2, 3)),
    ],
    ids=["same-size", "style-larger", "style-smaller"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_style_loss(impl, device, shapes, dtype):
    gs, ss = shapes
    gen = randn(gs, 10 + sum(gs), device, dtype) + 0.5
    style = randn(ss, 20 + sum(ss), device, dtype, scale=1.5) + 0.2
    saved = gen.clone(), style.clone()
    out = call(impl.style_loss, gen, style, what="style_loss")
    assert_unchanged(saved[0], gen, "gen")
    assert_unchanged(saved[1], style, "style")
    _check_loss(
        out,
        _style64(gen, style),
        lambda: _style_variants(gen, style),
        dtype,
        device,
        "style_loss",
        f"gen {gs}, style {ss}, {dtype}",
    )


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 7)], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_content_loss(impl, device, shape, dtype):
    gen = randn(shape, 30 + sum(shape), device, dtype)
    target = randn(shape, 40 + sum(shape), device, dtype, scale=2.0)
    saved = gen.clone(), target.clone()
    out = call(impl.content_loss, gen, target, what="content_loss")
    assert_unchanged(saved[0], gen, "gen")
    assert_unchanged(saved[1], target, "target")
    expected = (gen.cpu().double() - target.cpu().double()).pow(2).mean()
    _check_loss(
        out,
        expected,
        lambda: _content_variants(gen, target),
        dtype,
        device,
        "content_loss",
        f"shape {shape}, {dtype}",
    )


def test_gradients_reach_the_feature_maps(impl, device):
    gen = (randn((2, 3, 4, 5), 50, device) + 0.5).requires_grad_()
    style = (randn((2, 3, 3, 6), 51, device) + 0.2).requires_grad_()
    target = randn((2, 3, 4, 5), 52, device).requires_grad_()
    refs = [t.detach().cpu().double().requires_grad_() for t in (gen, style, target)]
    loss = call(impl.style_loss, gen, style) + 3.0 * call(
        impl.content_loss, gen, target
    )
    assert isinstance(loss, torch.Tensor) and loss.requires_grad, (
        "the losses do not require grad: they must stay connected to the feature maps (no "
        ".item(), .detach() or torch.no_grad)"
    )
    loss.backward()
    g, s, t = refs

    def gram(x):
        m = x.reshape(x.shape[0], x.shape[1], -1)
        return m @ m.transpose(1, 2) / m[0].numel()

    ((gram(g) - gram(s)).pow(2).mean() + 3.0 * (g - t).pow(2).mean()).backward()
    for name, got, ref in zip(("gen", "style", "target"), (gen, style, target), refs):
        assert got.grad is not None, f"no gradient reached `{name}`"
        assert_close(
            got.grad,
            ref.grad.to(device=device, dtype=got.dtype),
            what=f"gradient of {name}",
            atol=1e-6,
            rtol=1e-4,
            context="style_loss(gen, style) + 3 * content_loss(gen, target)",
        )
