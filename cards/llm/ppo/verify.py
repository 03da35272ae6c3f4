"""Verifier for PPO: gae against a float64 backward loop, ppo_clip_loss (value and gradient)
against the float64 formula through autograd, and a toy policy trained with the loss.

On a failed comparison the message names the classic mistake the output matches: each is
computed in float64 (GAE forwards in time, no lambda, the last value bootstrapped from V, the
min missing or turned into a max, the advantage clipped instead of the ratio, the mask mean
taken over every token or per sequence, ...)."""

import pytest
import torch

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)

GAE_CASES = [((1, 1), 0.99, 0.95), ((3, 7), 0.99, 0.95), ((2, 16), 0.9, 0.8)]
GAE_CASES += [((4, 5), 1.0, 1.0), ((2, 6), 0.5, 0.0), ((3, 9), 0.8, 0.6)]


# -- gae -------------------------------------------------------------------------------------
def _gae64(rewards, values, gamma, lam, *, forwards=False, bootstrap_last=False):
    """Float64 GAE on the CPU; the keyword flags compute two classic mistakes."""
    r = rewards.detach().to("cpu", torch.float64)
    v = values.detach().to("cpu", torch.float64)
    T = r.shape[1]
    nxt = torch.cat([v[:, 1:], (v[:, -1:] if bootstrap_last else v[:, :1] * 0)], dim=1)
    delta = r + gamma * nxt - v
    adv = torch.zeros_like(r)
    running = torch.zeros_like(r[:, 0])
    steps = range(T) if forwards else reversed(range(T))
    for t in steps:
        running = delta[:, t] + gamma * lam * running
        adv[:, t] = running
    return adv


def _discounted(x, factor):
    """y_t = sum_k factor^k x_{t+k}, float64 on the CPU."""
    y, running = torch.zeros_like(x), torch.zeros_like(x[:, 0])
    for t in reversed(range(x.shape[1])):
        running = x[:, t] + factor * running
        y[:, t] = running
    return y


def _gae_variants(rewards, values, gamma, lam):
    r = rewards.detach().to("cpu", torch.float64)
    v = values.detach().to("cpu", torch.float64)
    found = {
        "GAE was accumulated forwards in time (A_t from A_{t-1}): it runs backwards, "
        "A_t = delta_t + gamma * lam * A_{t+1}, looping t from T-1 down to 0": _gae64(
            r, v, gamma, lam, forwards=True
        ),
        "the value after the last step was bootstrapped from V_{T-1}: the contract takes "
        "V_T = 0 (the episode ends)": _gae64(r, v, gamma, lam, bootstrap_last=True),
        "the returned advantages are the TD errors delta_t alone: accumulate them, "
        "A_t = delta_t + gamma * lam * A_{t+1}": _gae64(r, v, gamma, 0.0),
    }
    if lam != 1.0:
        found[
            "lambda is missing: the recursion must discount by gamma * lam, not gamma"
        ] = _gae64(r, v, gamma, 1.0)
    if gamma != 1.0:
        found["the recursion discounts by lam only: it must be gamma * lam"] = _gae64(
            r, v, 1.0, lam
        )
        found[
            "gamma is missing from the TD error: delta_t = r_t + gamma * V_{t+1} - V_t"
        ] = _discounted(r + torch.cat([v[:, 1:], v[:, :1] * 0], 1) - v, gamma * lam)
    return found


def _return_variants(rewards, values, gamma, lam):
    r = rewards.detach().to("cpu", torch.float64)
    v = values.detach().to("cpu", torch.float64)
    adv = _gae64(r, v, gamma, lam)
    return {
        "returns are the discounted rewards-to-go: the contract's returns are "
        "advantages + values": _discounted(r, gamma),
        "returns are advantages - values: they are advantages + values": adv - v,
        "returns are the advantages themselves: add the values": adv,
        "GAE was accumulated forwards in time (A_t from A_{t-1}): it runs backwards, "
        "A_t = delta_t + gamma * lam * A_{t+1}": _gae64(r, v, gamma, lam, forwards=True)
        + v,
    }


def _call_gae(impl, rewards, values, gamma=None, lam=None):
    kwargs = {}
    if gamma is not None:
        kwargs["gamma"] = gamma
    if lam is not None:
        kwargs["lam"] = lam
    before_r, before_v = rewards.clone(), values.clone()
    out = call(impl.gae, rewards, values, what="gae", **kwargs)
    assert_unchanged(before_r, rewards, "rewards")
    assert_unchanged(before_v, values, "values")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"gae must return (advantages, returns), got {type(out).__name__}"
    )
    return out


def _check_gae(out, rewards, values, gamma, lam, context):
    adv, ret = out
    dtype = rewards.dtype
    atol, rtol = tolerance(dtype)
    expected = _gae64(rewards, values, gamma, lam)
    assert_close_diagnosed(
        adv,
        expected.to(rewards.device, dtype),
        lambda: _gae_variants(rewards, values, gamma, lam),
        what="advantages",
        atol=atol,
        rtol=rtol,
        context=context,
    )
    assert_close_diagnosed(
        ret,
        (expected + values.detach().cpu().double()).to(rewards.device, dtype),
        lambda: _return_variants(rewards, values, gamma, lam),
        what="returns",
        atol=atol,
        rtol=rtol,
        context=context,
    )


@pytest.mark.parametrize("shape,gamma,lam", GAE_CASES)
def test_gae_matches_backward_recursion(impl, device, shape, gamma, lam):
    rewards = randn(shape, 1, device)
    values = randn(shape, 2, device, scale=2.0)
    out = _call_gae(impl, rewards, values, gamma, lam)
    _check_gae(
        out, rewards, values, gamma, lam, f"(B, T)={shape}, gamma={gamma}, lam={lam}"
    )


def test_gae_sparse_terminal_reward(impl, device):
    # RLHF's usual case: the reward model scores the last token only.
    rewards = torch.zeros(2, 8, dtype=torch.float64)
    rewards[:, -1] = torch.tensor([1.0, -2.0])
    rewards = rewards.to(device=device, dtype=torch.float32)
    values = randn((2, 8), 3, device, scale=0.5)
    out = _call_gae(impl, rewards, values, 0.95, 0.9)
    _check_gae(out, rewards, values, 0.95, 0.9, "reward on the last token only")


def test_gae_defaults_and_float64(impl, device):
    rewards = randn((3, 6), 4, device, dtype=torch.float64)
    values = randn((3, 6), 5, device, dtype=torch.float64)
    out = _call_gae(impl, rewards, values)
    _check_gae(
        out, rewards, values, 0.99, 0.95, "default gamma=0.99, lam=0.95, float64"
    )


# -- ppo_clip_loss ---------------------------------------------------------------------------
def _loss64(lp, old, adv, mask, eps, *, kind="right"):
    """The float64 loss (on lp's graph); `kind` names a classic mistake to compute instead."""
    adv = adv if adv.dim() == 2 else adv[:, None]
    ratio = torch.exp(old - lp) if kind == "inverted_ratio" else torch.exp(lp - old)
    if kind == "no_exp":
        ratio = lp - old
    low, high = 1 - eps, 1 + eps
    unclipped = ratio * adv
    clipped = ratio.clamp(low, high) * adv
    if kind == "clip_advantage":
        clipped = ratio * adv.clamp(low, high)
    elif kind == "clip_advantage_eps":
        clipped = ratio * adv.clamp(-eps, eps)
    per = -torch.min(unclipped, clipped)
    if kind == "max":
        per = -torch.max(unclipped, clipped)
    elif kind == "only_clipped":
        per = -clipped
    elif kind == "only_unclipped":
        per = -unclipped
    elif kind == "no_negate":
        per = torch.min(unclipped, clipped)
    elif kind == "default_eps":
        per = -torch.min(unclipped, ratio.clamp(0.8, 1.2) * adv)
    if mask is None:
        return per.mean()
    m = mask.to(per.dtype)
    if kind == "mask_all_tokens":
        return (per * m).sum() / per.numel()
    if kind == "mask_per_sequence":
        return ((per * m).sum(1) / m.sum(1)).mean()
    if kind == "mask_ignored":
        return per.mean()
    return (per * m).sum() / m.sum()


LOSS_BUGS = {
    "max": "the min became a max: -min(ratio * A, clip(ratio) * A) takes the pessimistic "
    "(smaller) surrogate; in negated form that is max(-ratio * A, -clip(ratio) * A)",
    "only_clipped": "the min is missing: only the clipped term clip(ratio) * A is used; take "
    "-min(ratio * A, clip(ratio) * A)",
    "only_unclipped": "there is no clipping: only ratio * A is used; take "
    "-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)",
    "clip_advantage": "the advantage was clipped instead of the ratio: clip "
    "ratio to [1 - eps, 1 + eps], leave A alone",
    "clip_advantage_eps": "the advantage was clipped instead of the ratio: clip "
    "ratio to [1 - eps, 1 + eps], leave A alone",
    "inverted_ratio": "the ratio is inverted: ratio = exp(logprobs - old_logprobs), new over old",
    "no_exp": "the ratio is logprobs - old_logprobs without exp: ratio = exp(logprobs - "
    "old_logprobs)",
    "no_negate": "the sign is flipped: return the negated surrogate, a loss to minimise",
    "default_eps": "clip_eps is ignored: the ratio was clipped to [0.8, 1.2] whatever "
    "clip_eps is",
    "mask_all_tokens": "the masked mean divides by every token, masked ones included: divide "
    "the masked sum by the number of kept tokens (mask.sum())",
    "mask_per_sequence": "the loss was averaged per sequence, then over sequences: PPO's "
    "loss here is one mean over all kept tokens of the batch",
    "mask_ignored": "the mask is ignored: masked tokens must not count",
}


def _loss_variants(lp, old, adv, mask, eps, upstream=False):
    lp64 = lp.detach().to("cpu", torch.float64).requires_grad_(upstream)
    old64 = old.detach().to("cpu", torch.float64)
    adv64 = adv.detach().to("cpu", torch.float64)
    m = None if mask is None else mask.detach().to("cpu")
    out = []
    for kind, why in LOSS_BUGS.items():
        if kind.startswith("mask") and mask is None:
            continue
        if kind == "default_eps" and eps == 0.2:
            continue
        value = _loss64(lp64, old64, adv64, m, eps, kind=kind)
        if upstream:
            value = torch.autograd.grad(value, lp64, allow_unused=True)[0]
            if value is None:
                continue
        out.append((why, value.detach()))
    return out


def _inputs(B, T, seed, device, adv_shape="tokens", dtype=torch.float32):
    """Log-probabilities with ratios from about 0.3 to 3 (both sides of the clip range)."""
    old = -randn((B, T), seed, scale=1.0).abs() - 0.1
    lp = old + randn((B, T), seed + 1, scale=0.6)
    shape = (B, T) if adv_shape == "tokens" else (B,)
    adv = randn(shape, seed + 2, scale=1.5)
    return [t.to(device=device, dtype=dtype) for t in (lp, old, adv)]


def _mask(B, T, seed, device, kind):
    if kind is None:
        return None
    keep = torch.rand(B, T, generator=generator(seed)) < 0.6
    keep[:, 0] = True  # every row keeps at least one token
    keep[0] = True  # one full row, so per-sequence and per-token means differ
    return keep.to(device) if kind == "bool" else keep.to(device, torch.float32)


def _run_loss(impl, lp, old, adv, mask, eps):
    saved = [t.clone() for t in (lp, old, adv)] + [
        None if mask is None else mask.clone()
    ]
    kwargs = {} if eps is None else {"clip_eps": eps}
    if mask is not None:
        kwargs["mask"] = mask
    out = call(impl.ppo_clip_loss, lp, old, adv, what="ppo_clip_loss", **kwargs)
    for name, before, after in zip(
        ("logprobs", "old_logprobs", "advantages", "mask"), saved, (lp, old, adv, mask)
    ):
        if before is not None:
            assert_unchanged(before, after, name)
    return out


def _check_loss(out, lp, old, adv, mask, eps, context):
    m = None if mask is None else mask.cpu()
    expected = _loss64(
        lp.detach().cpu().double(),
        old.detach().cpu().double(),
        adv.detach().cpu().double(),
        m,
        eps,
    )
    assert_close_diagnosed(
        out,
        expected.to(lp.device, lp.dtype),
        lambda: _loss_variants(lp, old, adv, mask, eps),
        what="ppo_clip_loss",
        context=context,
    )


CASES = [
    (2, 5, "tokens", None, 0.2),
    (3, 8, "tokens", "bool", 0.2),
    (4, 6, "tokens", "float", 0.1),
    (3, 7, "sequences", "bool", 0.3),
    (2, 9, "sequences", None, 0.2),
]


@pytest.mark.parametrize("B,T,adv_shape,mask_kind,eps", CASES)
@pytest.mark.parametrize("seed", [0, 10])
def test_loss_matches_formula(impl, device, B, T, adv_shape, mask_kind, eps, seed):
    lp, old, adv = _inputs(B, T, seed, device, adv_shape)
    mask = _mask(B, T, seed + 3, device, mask_kind)
    out = _run_loss(impl, lp, old, adv, mask, eps)
    context = f"(B, T)=({B}, {T}), advantages per {adv_shape[:-1]}, mask={mask_kind}, "
    _check_loss(out, lp, old, adv, mask, eps, context + f"clip_eps={eps}")


def test_loss_default_clip_eps_and_float64(impl, device):
    lp, old, adv = _inputs(3, 6, 20, device, dtype=torch.float64)
    mask = _mask(3, 6, 23, device, "bool")
    out = _run_loss(impl, lp, old, adv, mask, None)
    _check_loss(out, lp, old, adv, mask, 0.2, "default clip_eps=0.2, float64")


@pytest.mark.parametrize("mask_kind", [None, "bool"])
def test_gradient_reaches_logprobs(impl, device, mask_kind):
    lp, old, adv = _inputs(3, 8, 30, device)
    mask = _mask(3, 8, 33, device, mask_kind)
    lp = lp.requires_grad_()
    out = _run_loss(impl, lp, old, adv, mask, 0.2)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the loss carries no gradient to logprobs: is it detached, or computed from "
        "old_logprobs only?"
    )
    (grad,) = torch.autograd.grad(out, lp, allow_unused=True)
    assert grad is not None, "no gradient reached logprobs"
    lp64 = lp.detach().cpu().double().requires_grad_()
    m = None if mask is None else mask.cpu()
    ref = _loss64(lp64, old.cpu().double(), adv.cpu().double(), m, 0.2)
    (expected,) = torch.autograd.grad(ref, lp64)
    assert_close_diagnosed(
        grad,
        expected.to(device, torch.float32),
        lambda: _loss_variants(lp, old, adv, mask, 0.2, upstream=True),
        what="gradient of the loss w.r.t. logprobs",
        context="clipped tokens must get zero gradient, the others ratio * A / n",
    )


def test_training_moves_policy_within_clip_range(impl, device):
    """A toy policy (one logit vector per token) trained on fixed old log-probabilities: the
    chosen tokens with A > 0 gain probability, those with A < 0 lose it, and the clip stops
    the ratio of each from running far past 1 + eps (or below 1 - eps)."""
    B, T, V = 4, 6, 5
    logits = (randn((B, T, V), 40, scale=0.5)).to(device).requires_grad_()
    actions = torch.randint(0, V, (B, T), generator=generator(41)).to(device)
    adv = torch.tensor([1.0, -1.0, 2.0, -0.5]).to(device)
    with torch.no_grad():
        old = logits.log_softmax(-1).gather(-1, actions[..., None])[..., 0]
    for _ in range(30):  # plain gradient descent, lr 1
        lp = logits.log_softmax(-1).gather(-1, actions[..., None])[..., 0]
        loss = call(impl.ppo_clip_loss, lp, old, adv, what="ppo_clip_loss")
        (grad,) = torch.autograd.grad(loss, logits)
        with torch.no_grad():
            logits -= grad
    with torch.no_grad():
        lp = logits.log_softmax(-1).gather(-1, actions[..., None])[..., 0]
        ratio = (lp - old).exp().cpu()
    up, down = ratio[[0, 2]], ratio[[1, 3]]
    assert (up > 1.15).all() and (down < 0.85).all(), (
        "after 30 gradient steps on the loss, the policy did not move the right way: tokens with "
        f"A > 0 reached ratios {up.min():.3f}.., tokens with A < 0 {down.max():.3f}.. (the "
        "loss must push up log-probabilities where A > 0 and down where A < 0)"
    )
    assert up.max() < 1.6 and down.min() > 0.4, (
        f"the ratio ran far outside [0.8, 1.2] (from {ratio.min():.3f} to {ratio.max():.3f}): "
        "once the ratio passes the clip range in the direction A favours, the gradient must "
        "vanish (-min(ratio * A, clip(ratio) * A))"
    )
