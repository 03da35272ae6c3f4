"""Verifier for the VAE's reparameterize and vae_loss: against the formulas in float64 (the
reconstruction term through F.binary_cross_entropy_with_logits, the KL in closed form), values
and gradients, for image-shaped (B, C, H, W) and flat (B, D) data, soft targets in [0, 1],
logits up to +-100 in float32, float32 and float64, inputs left unchanged.

A failed comparison names the classic mistake it matches: a mean over elements instead of the
per-sample sum, a sum over the batch instead of the mean, the KL's sign or its 1/2, the KL
averaged over latent dims, the variance used as the standard deviation, BCE from
log(sigmoid(x))."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)


def _inputs(seed, device, dtype, x_shape, Z=5, logit_scale=3.0, logvar_scale=1.0):
    g = generator(seed)
    B = x_shape[0]
    logits = torch.randn(x_shape, generator=g, dtype=torch.float64) * logit_scale
    x = torch.rand(x_shape, generator=g, dtype=torch.float64)
    x[..., ::2] = (x[..., ::2] > 0.5).double()  # half binary pixels, half soft targets
    mu = torch.randn(B, Z, generator=g, dtype=torch.float64)
    logvar = torch.randn(B, Z, generator=g, dtype=torch.float64) * logvar_scale
    return [t.to(device=device, dtype=dtype) for t in (logits, x, mu, logvar)]


def _parts(logits, x, mu, logvar):
    """(recon (B,), kl (B,)) in float64 on the CPU."""
    logits, x, mu, logvar = (
        t.detach().to("cpu", torch.float64) for t in (logits, x, mu, logvar)
    )
    B = x.shape[0]
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(B, -1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())
    return bce, kl


def _loss_variants(logits, x, mu, logvar):
    bce, kl = _parts(logits, x, mu, logvar)
    r, k = bce.sum(1), kl.sum(1)
    # in the input's own precision, as a naive attempt would
    naive = logits.detach().cpu()
    p = torch.sigmoid(naive)
    naive_bce = -(x.cpu() * torch.log(p) + (1 - x.cpu()) * torch.log(1 - p)).double()
    naive_bce = naive_bce.reshape(x.shape[0], -1).sum(1)
    logp = torch.log(p).clamp(min=-100)
    log1mp = torch.log(1 - p).clamp(min=-100)
    clamped = -(x.cpu() * logp + (1 - x.cpu()) * log1mp).double()
    clamped = clamped.reshape(x.shape[0], -1).sum(1)
    return {
        "BCE computed on sigmoid probabilities (F.binary_cross_entropy clamps log at -100, "
        "and sigmoid rounds to 1 in float32 from about 17): compute it from the logits with "
        "F.binary_cross_entropy_with_logits or softplus": (clamped + k).mean(),
        "the reconstruction term is a mean over all elements (F.binary_cross_entropy_with_"
        "logits' default): sum it over each sample's elements, then average over the batch": (
            bce.mean() + k.mean()
        ),
        "both terms were averaged over every element: sum each over its sample (pixels, "
        "latent dims), then take the batch mean": bce.mean() + kl.mean(),
        "the loss was summed over the batch: take the batch mean of the per-sample totals": (
            r + k
        ).sum(),
        "the KL term has the wrong sign: KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) "
        "is >= 0 and is added": (r - k).mean(),
        "the KL term is missing its factor 1/2": (r + 2 * k).mean(),
        "the KL was averaged over the latent dims: sum it over them": (
            r + kl.mean(1)
        ).mean(),
        "the KL term is missing": r.mean(),
        "BCE computed as log(sigmoid(logits)): it gives inf where sigmoid rounds to 0 or 1; "
        "use BCE with logits (or the log-sum-exp form)": (naive_bce + k).mean(),
    }


def _reference(logits, x, mu, logvar):
    bce, kl = _parts(logits, x, mu, logvar)
    return (bce.sum(1) + kl.sum(1)).mean()


def _call_loss(impl, logits, x, mu, logvar):
    before = [t.clone() for t in (logits, x, mu, logvar)]
    out = call(impl.vae_loss, logits, x, mu, logvar, what="vae_loss")
    for b, t, name in zip(
        before, (logits, x, mu, logvar), ("recon_logits", "x", "mu", "logvar")
    ):
        assert_unchanged(b, t, name)
    return out


SHAPES = [(4, 1, 3, 5), (6, 7), (1, 2, 2, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_loss_values(impl, device, shape, dtype):
    logits, x, mu, logvar = _inputs(sum(shape), device, dtype, shape)
    out = _call_loss(impl, logits, x, mu, logvar)
    expected = _reference(logits, x, mu, logvar).to(device=device, dtype=dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: {
            why: v.to(device=device, dtype=dtype)
            for why, v in _loss_variants(logits, x, mu, logvar).items()
        },
        what="vae_loss",
        context=f"x of shape {shape}, {dtype}",
    )


@pytest.mark.parametrize("scale", [30.0, 100.0], ids=["x30", "x100"])
def test_large_logits_float32(impl, device, scale):
    # Logits of +-scale with targets on the wrong side: sigmoid rounds to exactly 0 or 1 in
    # float32, log(sigmoid) is -inf; BCE with logits stays finite and exact.
    shape = (3, 2, 4)
    logits, x, mu, logvar = _inputs(7, device, torch.float32, shape)
    logits = logits.sign() * scale
    x = (logits < 0).to(torch.float32)  # every pixel confidently wrong
    x[0] = 1 - x[0]  # the first sample confidently right
    out = _call_loss(impl, logits, x, mu, logvar)
    expected = _reference(logits, x, mu, logvar).to(device=device, dtype=torch.float32)
    assert_close_diagnosed(
        out,
        expected,
        lambda: {
            why: v.to(device=device, dtype=torch.float32)
            for why, v in _loss_variants(logits, x, mu, logvar).items()
        },
        what="vae_loss",
        context=f"|logits| = {scale:g} in float32",
    )


def test_loss_gradients(impl, device):
    logits, x, mu, logvar = _inputs(
        3, device, torch.float64, (4, 2, 3), logit_scale=4.0
    )
    leaves = [t.clone().requires_grad_() for t in (logits, mu, logvar)]
    out = call(impl.vae_loss, leaves[0], x, leaves[1], leaves[2], what="vae_loss")
    assert isinstance(out, torch.Tensor) and out.dim() == 0, (
        "vae_loss should return a 0-dim tensor (the batch mean)"
    )
    out.backward()
    ref_leaves = [
        t.detach().cpu().clone().requires_grad_() for t in (logits, mu, logvar)
    ]
    bce = F.binary_cross_entropy_with_logits(ref_leaves[0], x.cpu(), reduction="none")
    kl = -0.5 * (1 + ref_leaves[2] - ref_leaves[1] ** 2 - ref_leaves[2].exp())
    ((bce.reshape(4, -1).sum(1) + kl.sum(1)).mean()).backward()
    for name, t, r in zip(("recon_logits", "mu", "logvar"), leaves, ref_leaves):
        assert t.grad is not None, f"no gradient reached {name}: is something detached?"
        assert_close(
            t.grad, r.grad.to(device), what=f"gradient of vae_loss w.r.t. {name}"
        )


def _reparam_variants(mu, logvar, eps):
    mu, logvar, eps = (t.detach().to("cpu", torch.float64) for t in (mu, logvar, eps))
    return {
        "the variance exp(logvar) was used as the standard deviation: sigma = exp(logvar / 2)": (
            mu + logvar.exp() * eps
        ),
        "logvar was used as the standard deviation: sigma = exp(logvar / 2)": mu
        + logvar * eps,
        "sigma was taken as exp(logvar) / 2: it is exp(logvar / 2)": mu
        + logvar.exp() / 2 * eps,
        "mu was left out: z = mu + sigma * eps": torch.exp(0.5 * logvar) * eps,
    }


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str
)
def test_reparameterize(impl, device, dtype):
    g = generator(11)
    mu, logvar, eps = (
        (torch.randn(5, 3, generator=g, dtype=torch.float64) * s).to(
            device=device, dtype=dtype
        )
        for s in (1.0, 2.0, 1.0)
    )
    before = [t.clone() for t in (mu, logvar, eps)]
    z = call(impl.reparameterize, mu, logvar, eps, what="reparameterize")
    for b, t, name in zip(before, (mu, logvar, eps), ("mu", "logvar", "eps")):
        assert_unchanged(b, t, name)
    m, lv, e = (t.to("cpu", torch.float64) for t in (mu, logvar, eps))
    expected = (m + torch.exp(0.5 * lv) * e).to(device=device, dtype=dtype)
    atol, rtol = tolerance(dtype)
    assert_close_diagnosed(
        z,
        expected,
        lambda: {
            why: v.to(device=device, dtype=dtype)
            for why, v in _reparam_variants(mu, logvar, eps).items()
        },
        what="reparameterize",
        atol=atol * 2,
        rtol=rtol * 2,
        context=f"{dtype}",
    )


def test_reparameterize_gradients(impl, device):
    g = generator(12)
    mu, logvar, eps = (
        torch.randn(4, 6, generator=g, dtype=torch.float64).to(device) for _ in range(3)
    )
    mu.requires_grad_()
    logvar.requires_grad_()
    z = call(impl.reparameterize, mu, logvar, eps, what="reparameterize")
    up = torch.randn(4, 6, generator=generator(13), dtype=torch.float64).to(device)
    (z * up).sum().backward()
    assert mu.grad is not None and logvar.grad is not None, (
        "no gradient reached mu or logvar: z must be computed from them (not detached, not "
        "sampled with torch.normal)"
    )
    assert_close(mu.grad, up, what="dz/dmu (times upstream)")
    std = torch.exp(0.5 * logvar.detach())
    assert_close(logvar.grad, 0.5 * std * eps * up, what="dz/dlogvar (times upstream)")
