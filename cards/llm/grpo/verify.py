"""Verifier for GRPO: group_advantages against float64 per-group statistics, grpo_loss (value and
gradient) against the float64 DeepSeekMath formula through autograd, and a toy policy pulled
back to the reference by the KL term alone.

On a failed comparison the message names the classic mistake the output matches: each is
computed in float64 (biased std, strided groups, batch-wide statistics, k1 instead of k3, the
k3 ratio reversed, the KL added with the wrong sign, one global token mean, ...)."""

import pytest
import torch

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
)


# -- group_advantages ------------------------------------------------------------------------
def _adv64(
    rewards, G, eps, *, strided=False, unbiased=True, eps_in_sqrt=False, batch=False
):
    r = rewards.detach().to("cpu", torch.float64)
    groups = r.view(G, -1).T if strided else r.view(-1, G)  # (P, G)
    if batch:
        groups = r.view(1, -1)
    mean = groups.mean(1, keepdim=True)
    var = groups.var(1, keepdim=True, unbiased=unbiased)
    std = (var + eps).sqrt() if eps_in_sqrt else var.sqrt() + eps
    out = (groups - mean) / std
    return (out.T if strided else out).reshape(-1)


def _adv_variants(rewards, G, eps):
    biased = (
        "the std is biased (divides by group_size): use the unbiased std, divided by "
    )
    biased += "group_size - 1 (torch's default, unbiased=True)"
    strided = (
        "groups were taken strided (rewards[i::num_prompts]): groups are contiguous, "
    )
    strided += "rewards.view(num_prompts, group_size)"
    both = "the groups were taken strided and the std is biased: groups are contiguous "
    both += "and the std unbiased"
    batch = "the mean and std were taken over the whole batch: normalise within each "
    batch += "group of group_size"
    sqrt = "eps was added under the square root, (r - mean) / sqrt(var + eps): the "
    sqrt += "contract adds it to the std, (r - mean) / (std + eps)"
    found = {
        biased: _adv64(rewards, G, eps, unbiased=False),
        strided: _adv64(rewards, G, eps, strided=True),
        both: _adv64(rewards, G, eps, strided=True, unbiased=False),
        batch: _adv64(rewards, G, eps, batch=True),
        sqrt: _adv64(rewards, G, eps, eps_in_sqrt=True),
    }
    if eps != 1e-4:
        why = f"eps is ignored (the output matches eps=1e-4, not eps={eps:g})"
        found[why] = _adv64(rewards, G, 1e-4)
    return found


def _check_adv(impl, rewards, G, eps, context):
    before = rewards.clone()
    kwargs = {} if eps is None else {"eps": eps}
    out = call(impl.group_advantages, rewards, G, what="group_advantages", **kwargs)
    assert_unchanged(before, rewards, "rewards")
    eps = 1e-4 if eps is None else eps
    expected = _adv64(rewards, G, eps).to(rewards.device, rewards.dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _adv_variants(rewards, G, eps),
        what="group_advantages",
        context=context,
    )


@pytest.mark.parametrize("P,G", [(1, 4), (3, 4), (2, 8), (4, 2), (3, 5)])
@pytest.mark.parametrize("eps", [None, 0.5])
def test_group_advantages(impl, device, P, G, eps):
    # groups with different means, so strided groups show
    rewards = (
        randn((P * G,), P * 10 + G, device, scale=2.0)
        + torch.arange(P * G, device=device).float().div(G).floor()
    )
    ctx = f"{P} prompts x group_size {G}, eps={'default 1e-4' if eps is None else eps}"
    _check_adv(impl, rewards, G, eps, ctx)


def test_group_advantages_binary_rewards_and_equal_groups(impl, device):
    # Pass/fail rewards, as for verifiable answers; the last group is all-correct.
    r = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1], dtype=torch.float32)
    _check_adv(impl, r.to(device), 4, None, "0/1 rewards, one group of equal rewards")


def test_group_advantages_float64(impl, device):
    r = randn((12,), 7, device, dtype=torch.float64)
    _check_adv(impl, r, 3, None, "float64 rewards")


# -- grpo_loss -------------------------------------------------------------------------------
def _loss64(lp, old, ref, adv, mask, eps, beta, kind="right"):
    """Float64 loss on lp's graph; `kind` names a classic mistake to compute instead."""
    a = adv[:, None]
    ratio = torch.exp(lp - old)
    surr = torch.min(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
    if kind == "only_clipped":
        surr = ratio.clamp(1 - eps, 1 + eps) * a
    elif kind == "no_clip":
        surr = ratio * a
    elif kind == "max":
        surr = torch.max(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
    d = ref - lp
    kl = torch.exp(d) - d - 1
    if kind == "k1":
        kl = lp - ref
    elif kind == "k1_reversed":
        kl = ref - lp
    elif kind == "k3_reversed":
        kl = torch.exp(-d) + d - 1
    elif kind == "kl_old":
        kl = torch.exp(old - lp) - (old - lp) - 1
    elif kind == "k2":
        kl = 0.5 * d**2
    per = -(surr - beta * kl)
    if kind == "kl_sign":
        per = -(surr + beta * kl)
    elif kind == "no_kl":
        per = -surr
    elif kind == "default_beta":
        per = -(surr - 0.04 * kl)
    m = mask.to(per.dtype)
    if kind == "global_mean":
        return (per * m).sum() / m.sum()
    if kind == "per_seq_over_T":
        return ((per * m).sum(1) / m.shape[1]).mean()
    if kind == "mask_ignored":
        return per.mean(1).mean()
    return ((per * m).sum(1) / m.sum(1)).mean()


LOSS_BUGS = {
    "k1": "the KL term uses the k1 estimator (logprobs - ref_logprobs): GRPO uses k3, "
    "exp(ref - logp) - (ref - logp) - 1",
    "k1_reversed": "the KL term uses ref_logprobs - logprobs (k1, reversed): GRPO uses k3, "
    "exp(ref - logp) - (ref - logp) - 1",
    "k3_reversed": "the k3 log-ratio is reversed (exp(logp - ref) - (logp - ref) - 1): it is "
    "exp(ref - logp) - (ref - logp) - 1",
    "k2": "the KL term is k2, (ref - logp)^2 / 2: GRPO uses k3, exp(ref - logp) - "
    "(ref - logp) - 1",
    "kl_old": "the KL was taken to old_logprobs: it is to the reference model, ref_logprobs",
    "kl_sign": "the KL penalty has the wrong sign: loss = -(surrogate - beta * kl)",
    "no_kl": "the KL term is missing or detached (no gradient through it): subtract beta * kl "
    "from the surrogate, kl computed from the live logprobs",
    "default_beta": "beta is ignored: the output matches beta=0.04",
    "global_mean": "one mean over all kept tokens of the batch: GRPO averages each "
    "sequence over its own kept tokens, then averages the sequences",
    "per_seq_over_T": "each sequence's sum was divided by T, not by its number of kept "
    "tokens (mask.sum(1))",
    "mask_ignored": "the mask is ignored: masked tokens must not count",
    "only_clipped": "the min is missing: only the clipped term is used; take "
    "min(ratio * A, clip(ratio) * A)",
    "no_clip": "there is no clipping: take min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)",
    "max": "the min became a max: the surrogate is min(ratio * A, clip(ratio) * A)",
}


def _loss_variants(lp, old, ref, adv, mask, eps, beta, grad=False):
    lp64 = lp.detach().to("cpu", torch.float64).requires_grad_(grad)
    args = [t.detach().to("cpu", torch.float64) for t in (old, ref, adv)]
    m = mask.detach().to("cpu")
    out = []
    for kind, why in LOSS_BUGS.items():
        if kind == "default_beta" and beta == 0.04:
            continue
        value = _loss64(lp64, *args, m, eps, beta, kind)
        if grad:
            value = torch.autograd.grad(value, lp64, allow_unused=True)[0]
            if value is None:
                continue
        out.append((why, value.detach()))
    return out


def _inputs(B, T, seed, device, dtype=torch.float32):
    old = -randn((B, T), seed).abs() - 0.1
    # ratios on both sides of the clip range
    lp = old + randn((B, T), seed + 1, scale=0.5)
    ref = lp + randn((B, T), seed + 2, scale=0.8)  # far enough that k1, k2, k3 differ
    adv = randn((B,), seed + 3, scale=1.5)
    keep = torch.rand(B, T, generator=generator(seed + 4)) < 0.6
    keep[:, 0] = True
    keep[0] = (
        True  # one full row and ragged others: per-sequence and global means differ
    )
    return [t.to(device=device, dtype=dtype) for t in (lp, old, ref, adv)] + [
        keep.to(device)
    ]


def _run(impl, lp, old, ref, adv, mask, eps=None, beta=None):
    saved = [t.clone() for t in (lp, old, ref, adv, mask)]
    kwargs = {}
    if eps is not None:
        kwargs["clip_eps"] = eps
    if beta is not None:
        kwargs["beta"] = beta
    out = call(impl.grpo_loss, lp, old, ref, adv, mask, what="grpo_loss", **kwargs)
    names = ("logprobs", "old_logprobs", "ref_logprobs", "advantages", "mask")
    for name, before, after in zip(names, saved, (lp, old, ref, adv, mask)):
        assert_unchanged(before, after, name)
    return out


CASES = [
    (2, 6, 0.2, 0.04, "bool"),
    (4, 7, 0.2, 0.04, "float"),
    (3, 9, 0.1, 0.3, "bool"),
]


@pytest.mark.parametrize("B,T,eps,beta,mask_kind", CASES)
@pytest.mark.parametrize("seed", [0, 10])
def test_loss_matches_formula(impl, device, B, T, eps, beta, mask_kind, seed):
    lp, old, ref, adv, mask = _inputs(B, T, seed, device)
    if mask_kind == "float":
        mask = mask.float()
    out = _run(impl, lp, old, ref, adv, mask, eps, beta)
    args64 = [t.cpu().double() for t in (lp, old, ref, adv)]
    expected = _loss64(*args64, mask.cpu(), eps, beta)
    assert_close_diagnosed(
        out,
        expected.to(device, torch.float32),
        lambda: _loss_variants(lp, old, ref, adv, mask, eps, beta),
        what="grpo_loss",
        context=f"(B, T)=({B}, {T}), clip_eps={eps}, beta={beta}, {mask_kind} mask",
    )


def test_loss_defaults_and_float64(impl, device):
    lp, old, ref, adv, mask = _inputs(3, 8, 20, device, dtype=torch.float64)
    out = _run(impl, lp, old, ref, adv, mask)
    expected = _loss64(lp.cpu(), old.cpu(), ref.cpu(), adv.cpu(), mask.cpu(), 0.2, 0.04)
    assert_close_diagnosed(
        out,
        expected.to(device),
        lambda: _loss_variants(lp, old, ref, adv, mask, 0.2, 0.04),
        what="grpo_loss",
        context="default clip_eps=0.2, beta=0.04, float64",
    )


@pytest.mark.parametrize("beta", [0.04, 0.5])
def test_gradient_reaches_logprobs(impl, device, beta):
    lp, old, ref, adv, mask = _inputs(3, 8, 30, device)
    lp = lp.requires_grad_()
    out = _run(impl, lp, old, ref, adv, mask, 0.2, beta)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the loss carries no gradient to logprobs: is it detached?"
    )
    (grad,) = torch.autograd.grad(out, lp, allow_unused=True)
    assert grad is not None, "no gradient reached logprobs"
    lp64 = lp.detach().cpu().double().requires_grad_()
    args = [t.cpu().double() for t in (old, ref, adv)]
    (expected,) = torch.autograd.grad(_loss64(lp64, *args, mask.cpu(), 0.2, beta), lp64)
    assert_close_diagnosed(
        grad,
        expected.to(device, torch.float32),
        lambda: _loss_variants(lp, old, ref, adv, mask, 0.2, beta, grad=True),
        what="gradient of the loss w.r.t. logprobs",
        context=f"beta={beta}: both the surrogate and the KL term carry gradient",
    )


def test_kl_term_pulls_policy_to_reference(impl, device):
    """With zero advantages only the KL term acts: gradient steps bring the policy's
    log-probabilities to the reference's (k3's minimum), from either side."""
    B, T = 3, 5
    ref = (-randn((B, T), 50).abs() - 0.2).to(device)
    lp = (ref + randn((B, T), 51, scale=0.7).to(device)).clone().requires_grad_()
    old = lp.detach().clone()
    adv = torch.zeros(B, device=device)
    mask = torch.ones(B, T, dtype=torch.bool, device=device)
    start = (lp.detach() - ref).abs().max().item()
    for _ in range(40):
        loss = call(impl.grpo_loss, lp, old, ref, adv, mask, 0.2, 1.0, what="grpo_loss")
        (grad,) = torch.autograd.grad(loss, lp)
        with torch.no_grad():
            lp -= 5.0 * grad
    gap = (lp.detach() - ref).abs().max().item()
    assert gap < 0.1 * start, (
        f"with zero advantages and beta=1, 40 gradient steps left |logprobs - ref| at "
        f"{gap:.3g} (from {start:.3g}): the KL penalty must pull the policy to the reference "
        "(loss = -(surrogate - beta * kl), kl = exp(ref - logp) - (ref - logp) - 1)"
    )
