"""Verifier for the CLIP loss: against transformers' CLIP loss in float64, with the logits
computed as CLIPModel does (embeddings divided by their L2 norm, logits_per_text = text @
image.T * logit_scale.exp(), then `image_text_contrastive_loss(logits_per_text)`, the mean of
the cross-entropies of both directions; transformers 4 called it `clip_loss`).

On a failed comparison the message names the classic mistake the value matches: no (or
one-sided, or wrong-dim) normalisation, logit_scale not exponentiated or divided by, one
direction only, the directions summed, cross-entropies summed over the batch."""

import math

import pytest
import torch
import torch.nn.functional as F

try:
    from transformers.models.clip.modeling_clip import (
        image_text_contrastive_loss as _hf_loss,
    )
except ImportError:  # transformers 4
    from transformers.models.clip.modeling_clip import clip_loss as _hf_loss

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_tensor,
    assert_unchanged,
    call,
    generator,
)

CLIP_INIT = math.log(1 / 0.07)  # CLIP's initial logit_scale (a scale of about 14.3)


def _inputs(N, D, seed, device, dtype=torch.float32):
    """Image and text embeddings: matching rows correlated, row norms between 0.5 and 4 (so
    that a missing normalisation shows)."""
    g = generator(seed)
    image = torch.randn(N, D, generator=g, dtype=torch.float64)
    text = image + torch.randn(N, D, generator=g, dtype=torch.float64) * 1.5
    image = image * (torch.rand(N, 1, generator=g, dtype=torch.float64) * 3.5 + 0.5)
    text = text * (torch.rand(N, 1, generator=g, dtype=torch.float64) * 3.5 + 0.5)
    return image.to(device=device, dtype=dtype), text.to(device=device, dtype=dtype)


def _f64(t):
    if t.device.type == "cpu" and t.dtype == torch.float64:
        return t
    return t.detach().to("cpu", torch.float64)


def _hf_reference(image, text, logit_scale):
    """As CLIPModel.forward (return_loss=True) in float64."""
    image, text, scale = _f64(image), _f64(text), _f64(logit_scale)
    image = image / image.pow(2).sum(-1, keepdim=True).sqrt()
    text = text / text.pow(2).sum(-1, keepdim=True).sqrt()
    logits_per_text = torch.matmul(text, image.t()) * scale.exp()
    return _hf_loss(logits_per_text)


def _variants(image, text, logit_scale):
    image, text, s = _f64(image), _f64(text), _f64(logit_scale)
    N = image.shape[0]
    targets = torch.arange(N)

    def unit(x, dim=-1):
        return x / x.norm(dim=dim, keepdim=True)

    def two_way(logits_per_text, combine=lambda a, b: (a + b) / 2, reduction="mean"):
        a = F.cross_entropy(logits_per_text, targets, reduction=reduction)
        b = F.cross_entropy(logits_per_text.T, targets, reduction=reduction)
        return combine(a, b)

    right = unit(text) @ unit(image).T * s.exp()
    return [
        (
            (
                "the embeddings were not L2-normalised: divide each row by its norm so the logits "
                "are scaled cosine similarities"
            ),
            two_way(text @ image.T * s.exp()),
        ),
        (
            "only the image embeddings were normalised: normalise the text embeddings too",
            two_way(text @ unit(image).T * s.exp()),
        ),
        (
            "only the text embeddings were normalised: normalise the image embeddings too",
            two_way(unit(text) @ image.T * s.exp()),
        ),
        (
            (
                "the embeddings were normalised over the batch dim (dim 0), not over the feature "
                "dim: each row must get norm 1"
            ),
            two_way(unit(text, 0) @ unit(image, 0).T * s.exp()),
        ),
        (
            (
                "logit_scale was used as the scale: it is the log of the scale; multiply by "
                "logit_scale.exp()"
            ),
            two_way(unit(text) @ unit(image).T * s),
        ),
        (
            (
                "the logits were divided by the scale: logit_scale.exp() is a multiplier (an "
                "inverse temperature)"
            ),
            two_way(unit(text) @ unit(image).T / s.exp()),
        ),
        (
            (
                "only one direction: average the text->image and the image->text "
                "cross-entropies (rows and columns of the logits)"
            ),
            F.cross_entropy(right, targets),
        ),
        (
            (
                "only one direction: average the text->image and the image->text "
                "cross-entropies (rows and columns of the logits)"
            ),
            F.cross_entropy(right.T, targets),
        ),
        (
            "the two directions were summed, not averaged: divide by 2",
            two_way(right, combine=lambda a, b: a + b),
        ),
        (
            "the cross-entropies were summed over the batch, not averaged",
            two_way(right, reduction="sum"),
        ),
    ]


def _check(impl, image, text, logit_scale, context, **tol):
    before = [image.clone(), text.clone(), logit_scale.detach().clone()]
    out = call(impl.clip_loss, image, text, logit_scale)
    for b, a, name in zip(
        before,
        [image, text, logit_scale],
        ["image_embeds", "text_embeds", "logit_scale"],
    ):
        assert_unchanged(b, a, name)
    assert_tensor(out, "clip_loss")
    expected = _hf_reference(image, text, logit_scale).to(
        device=image.device, dtype=image.dtype
    )
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(image, text, logit_scale),
        what="clip_loss",
        context=context,
        **tol,
    )
    return out


@pytest.mark.parametrize("N,D", [(2, 4), (5, 16), (8, 7)])
@pytest.mark.parametrize(
    "scale", [CLIP_INIT, math.log(3.0), 4.0], ids=["clip-init", "log3", "4"]
)
def test_matches_transformers_clip(impl, device, N, D, scale):
    image, text = _inputs(N, D, 10 * N + D, device)
    logit_scale = torch.tensor(scale, device=device)
    _check(impl, image, text, logit_scale, f"N={N}, D={D}, logit_scale={scale:.4g}")


def test_scale_exponentiated(impl, device):
    # logit_scale 0 means a scale of 1, not 0.
    image, text = _inputs(6, 8, 3, device)
    _check(
        impl, image, text, torch.tensor(0.0, device=device), "logit_scale=0 (scale 1)"
    )


def test_float64(impl, device):
    image, text = _inputs(6, 12, 4, device, torch.float64)
    logit_scale = torch.tensor(CLIP_INIT, device=device, dtype=torch.float64)
    _check(impl, image, text, logit_scale, "float64 embeddings")


def test_single_pair_is_zero(impl, device):
    image, text = _inputs(1, 8, 5, device)
    _check(
        impl,
        image,
        text,
        torch.tensor(CLIP_INIT, device=device),
        "N=1: the only pair is the positive",
    )


def test_gradients(impl, device):
    image, text = _inputs(5, 10, 6, device)
    image.requires_grad_()
    text.requires_grad_()
    logit_scale = torch.nn.Parameter(torch.tensor(CLIP_INIT, device=device))
    out = call(impl.clip_loss, image, text, logit_scale)
    assert_tensor(out, "clip_loss")
    assert out.requires_grad, "clip_loss does not require a gradient: is it detached?"
    out.backward()
    leaves = [_f64(t).clone().requires_grad_() for t in (image, text, logit_scale)]
    _hf_reference(*leaves).backward()
    for got, ref, name in zip(
        (image, text, logit_scale),
        leaves,
        ("image_embeds", "text_embeds", "logit_scale"),
    ):
        assert got.grad is not None, f"no gradient reached {name}" + (
            ": keep it a tensor (no .item() or float()) and use logit_scale.exp()"
            if name == "logit_scale"
            else ""
        )
        assert_close(
            got.grad,
            ref.grad.to(device=device, dtype=got.dtype),
            what=f"gradient of clip_loss w.r.t. {name}",
            atol=1e-5,
            rtol=1e-4,
        )
