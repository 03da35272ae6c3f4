"""Verifier for MAE random masking: against transformers' ViTMAEEmbeddings.random_masking (its
own code, run on the CPU for the same noise) for several mask ratios, including ones where
int(L * (1 - mask_ratio)) differs from round() and from L - int(L * mask_ratio), ratios 0 and 1,
half precision and the gradient; with noise=None, for consistency of the three outputs, fresh
draws per call and per sample, reproducibility under torch.manual_seed, and a uniform coverage
of the positions (thresholds a correct sampler misses far less than once in a million).

A failed comparison names the classic mistake it matches: kept patches re-sorted by position,
the largest noise kept, the mask inverted or left in shuffled order, ids_restore equal to the
sorting permutation instead of its inverse."""

from types import SimpleNamespace

import pytest
import torch
from transformers.models.vit_mae.modeling_vit_mae import ViTMAEEmbeddings

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
)


def expected(x, mask_ratio, noise):
    """transformers' random_masking on the CPU (its code only reads config.mask_ratio)."""
    owner = SimpleNamespace(config=SimpleNamespace(mask_ratio=mask_ratio))
    x = x if x.requires_grad and x.device.type == "cpu" else x.detach().cpu()
    return ViTMAEEmbeddings.random_masking(owner, x, noise.cpu())


def _noise(B, L, seed, device, dtype=torch.float32):
    """Uniform noise without ties."""
    g = generator(seed)
    noise = torch.randperm(B * L, generator=g).reshape(B, L).double() / (B * L)
    return noise.to(device=device, dtype=dtype)


def _call(impl, x, mask_ratio, noise=None):
    out = call(impl.random_masking, x, mask_ratio, noise, what="random_masking")
    assert isinstance(out, (tuple, list)) and len(out) == 3, (
        "random_masking must return a tuple (x_masked, mask, ids_restore)"
    )
    return out


def _check_len_keep(x_masked, L, mask_ratio, context):
    len_keep = int(L * (1 - mask_ratio))
    assert isinstance(x_masked, torch.Tensor), "x_masked: expected a tensor"
    got = x_masked.shape[1] if x_masked.dim() == 3 else None
    if got != len_keep:
        notes = []
        if got == round(L * (1 - mask_ratio)):
            notes.append(f"round(L * (1 - mask_ratio)) = {got}")
        if got == L - int(L * mask_ratio):
            notes.append(f"L - int(L * mask_ratio) = {got}")
        why = f" (that is {' and '.join(notes)})" if notes else ""
        raise AssertionError(
            f"x_masked [{context}]: shape expected {(x_masked.shape[0], len_keep, x_masked.shape[-1])}"
            f", got {tuple(x_masked.shape)}{why}: len_keep is int(L * (1 - mask_ratio)) = "
            f"int({L} * (1 - {mask_ratio})) = {len_keep}"
        )


def _check(out, x, mask_ratio, noise, context):
    x_masked, mask, ids_restore = out
    B, L, D = x.shape
    _check_len_keep(x_masked, L, mask_ratio, context)
    ref_x, ref_mask, ref_restore = expected(x, mask_ratio, noise)
    len_keep = ref_x.shape[1]
    shuffle = torch.argsort(noise.cpu(), dim=1)
    xc = x.detach().cpu()

    def take(ids):
        return torch.gather(xc, 1, ids[:, :len_keep, None].expand(-1, -1, D))

    assert_close_diagnosed(
        x_masked,
        ref_x.to(x.device),
        lambda: {
            "the kept patches are in their original position order: list them in "
            "ascending-noise order (ids_shuffle[:, :len_keep]), not re-sorted": take(
                shuffle[:, :len_keep].sort(dim=1).values
            ),
            "the patches with the largest noise were kept: sort the noise ascending, "
            "the smallest len_keep are kept": take(torch.argsort(-noise.cpu(), dim=1)),
        },
        what="x_masked",
        atol=0,
        rtol=0,
        context=context,
    )
    assert_close_diagnosed(
        mask,
        ref_mask.to(x.device),
        lambda: {
            "the mask is inverted: 1 marks a removed patch, 0 a kept one": 1 - ref_mask,
            "the mask was left in shuffled order: it is indexed by original position "
            "(gather it with ids_restore, or mask = ids_restore >= len_keep)": (
                torch.arange(L)[None].expand(B, L) >= len_keep
            ).float(),
        },
        what="mask",
        atol=0,
        rtol=0,
        context=context,
        dtype_rule="the mask is float32 whatever x's dtype",
    )
    assert_close_diagnosed(
        ids_restore,
        ref_restore.to(x.device),
        lambda: {
            "ids_restore is the sorting permutation itself (argsort(noise)): it is its "
            "inverse, argsort(argsort(noise))": shuffle
        },
        what="ids_restore",
        atol=0,
        rtol=0,
        dtype_rule="ids_restore is int64",
        context=context,
    )


CASES = [
    (2, 16, 4, 0.75),
    (3, 10, 5, 0.75),  # int(2.5) = 2, L - int(7.5) = 3
    (2, 20, 3, 0.9),  # 20 * (1 - 0.9) = 1.9999999999999996: int 1, round 2
    (2, 7, 3, 0.5),
    (2, 9, 2, 0.0),  # nothing removed: every patch, shuffled
    (2, 6, 3, 1.0),  # everything removed
]


@pytest.mark.parametrize("B,L,D,ratio", CASES, ids=[f"L{c[1]}-r{c[3]}" for c in CASES])
def test_matches_transformers(impl, device, B, L, D, ratio):
    x = randn((B, L, D), seed=L, device=device)
    noise = _noise(B, L, seed=L + 1, device=device)
    x_before, noise_before = x.clone(), noise.clone()
    out = _call(impl, x, ratio, noise)
    assert_unchanged(x_before, x, "x")
    assert_unchanged(noise_before, noise, "noise")
    _check(out, x, ratio, noise, f"B={B}, L={L}, mask_ratio={ratio}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(impl, device, dtype):
    x = randn((2, 12, 4), seed=30, device=device, dtype=dtype)
    noise = _noise(2, 12, seed=31, device=device, dtype=torch.float64)
    _check(_call(impl, x, 0.75, noise), x, 0.75, noise, f"{dtype} x, float64 noise")


def test_gradient_reaches_the_kept_patches(impl, device):
    x = randn((2, 10, 3), seed=32, device=device).requires_grad_()
    noise = _noise(2, 10, seed=33, device=device)
    x_masked = _call(impl, x, 0.6, noise)[0]
    upstream = randn(x_masked.shape, seed=34, device=device)
    (x_masked * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached x: is x_masked detached?"
    x64 = x.detach().cpu().double().requires_grad_()
    ref = expected(x64, 0.6, noise)[0]
    (ref * upstream.cpu().double()).sum().backward()
    assert_close(
        x.grad, x64.grad.to(device=device, dtype=x.dtype), what="gradient of x"
    )


def _consistent(out, x, mask_ratio, context):
    """What holds for any correct output, whatever the noise: returns the kept indices."""
    x_masked, mask, ids_restore = out
    B, L, D = x.shape
    _check_len_keep(x_masked, L, mask_ratio, context)
    len_keep = int(L * (1 - mask_ratio))
    for name, t, dtype in (
        ("mask", mask, torch.float32),
        ("ids_restore", ids_restore, torch.int64),
    ):
        assert isinstance(t, torch.Tensor) and t.shape == (B, L), (
            f"{name} [{context}]: expected shape {(B, L)}"
        )
        assert t.dtype == dtype, (
            f"{name} [{context}]: dtype expected {dtype}, got {t.dtype}"
        )
    for name, t in (
        ("x_masked", x_masked),
        ("mask", mask),
        ("ids_restore", ids_restore),
    ):
        assert t.device.type == x.device.type, (
            f"{name} [{context}]: device expected {x.device.type}, got {t.device.type} "
            "(draw the noise on x's device)"
        )
    restore = ids_restore.cpu()
    assert torch.equal(restore.sort(dim=1).values, torch.arange(L).expand(B, L)), (
        f"ids_restore [{context}]: each row must be a permutation of 0..L-1"
    )
    shuffle = torch.argsort(restore, dim=1)
    keep = shuffle[:, :len_keep]
    want = torch.gather(x.cpu(), 1, keep[:, :, None].expand(-1, -1, D))
    assert torch.equal(x_masked.detach().cpu(), want), (
        f"x_masked [{context}]: it must hold x at the kept positions in the order ids_restore "
        "gives (x_masked[:, r] = x[:, argsort(ids_restore)[:, r]])"
    )
    assert torch.equal(mask.cpu(), (restore >= len_keep).float()), (
        f"mask [{context}]: it must be 1 exactly where ids_restore >= len_keep (removed)"
    )
    return keep


def test_noise_none_draws_fresh_uniform_masks(impl, device):
    B, L, ratio = 400, 8, 0.5
    x = randn((B, L, 3), seed=35, device=device)
    torch.manual_seed(36)
    first = _call(impl, x, ratio)
    keep = _consistent(first, x, ratio, "noise=None")
    torch.manual_seed(36)
    again = _call(impl, x, ratio)
    assert torch.equal(again[2].cpu(), first[2].cpu()), (
        "noise=None: the same torch.manual_seed must give the same masking (draw the noise "
        "from torch's default generator)"
    )
    other = _call(impl, x, ratio)
    assert not torch.equal(other[2].cpu(), first[2].cpu()), (
        "noise=None: two calls gave the same masking: draw fresh noise at each call"
    )
    removed = first[1].cpu().sum(0)
    # Binomial(400, 1/2) per position: mean 200, sd 10; 200 +- 60 is 6 sd.
    low, high = int(removed.min()), int(removed.max())
    assert 140 <= low and high <= 260, (
        f"noise=None: over {B} samples each position should be removed about {B // 2} times, "
        f"got counts from {low} to {high}: the noise must be uniform and independent per sample"
    )
    in_order = (keep[:, 1:] > keep[:, :-1]).all(1).double().mean().item()
    # A random order of 4 kept patches is ascending 1 time in 24.
    assert in_order < 0.5, (
        f"noise=None: the kept patches are in position order in {in_order:.0%} of the samples: "
        "they come out in ascending-noise order, a random order"
    )
