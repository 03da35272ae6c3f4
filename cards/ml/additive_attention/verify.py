"""Verifier for AdditiveAttention: the three nn.Linear layers (Wa, Ua, Va) with the contract's
shapes, seeded weights copied in, then context and weights against the formula in float64, for
a 2-D and a 3-D query, with and without a padding mask (masked weights exactly 0), odd sizes,
and through the gradients of the query, the keys and every parameter.

Failures name the classic mistakes: the mask inverted or ignored, the mask applied after the
softmax without renormalising, the softmax over the queries (a dim=1 written for the 2-D case),
the tanh missing, Wa and Ua swapped, the context from the raw scores."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    copy_linear,
    generator,
    randn,
    tolerance,
)


def make(impl, dq, dk, hid, device, dtype, seed):
    module = call(impl.AdditiveAttention, dq, dk, hid, what="AdditiveAttention")
    for name, (i, o) in {"Wa": (dq, hid), "Ua": (dk, hid), "Va": (hid, 1)}.items():
        layer = getattr(module, name, None)
        assert isinstance(layer, torch.nn.Linear), (
            f"AdditiveAttention needs an nn.Linear named `{name}` ({i} -> {o})"
        )
        assert (layer.in_features, layer.out_features) == (i, o), (
            f"`{name}` must be Linear({i}, {o}), got Linear({layer.in_features}, "
            f"{layer.out_features})"
        )
    names = {n for n, _ in module.named_parameters()}
    allowed = {"Wa.weight", "Wa.bias", "Ua.weight", "Ua.bias", "Va.weight", "Va.bias"}
    assert names <= allowed and names >= allowed - {"Va.bias"}, (
        f"the parameters must be those of Wa, Ua (with biases) and Va, got {sorted(names)}"
    )
    g = generator(seed)
    params = {}
    for name in ("Wa", "Ua", "Va"):
        layer = getattr(module, name)
        w = torch.randn(layer.weight.shape, generator=g, dtype=torch.float64)
        b = torch.randn(layer.out_features, generator=g, dtype=torch.float64) * 0.5
        if layer.bias is None:
            b = None
        copy_linear(
            layer,
            w.to(layer.weight.dtype),
            None if b is None else b.to(layer.weight.dtype),
        )
        params[name] = (w, b)
    module = module.to(device=device, dtype=dtype)
    # the reference uses the values the module really holds
    params = {
        n: (
            getattr(module, n).weight.detach().cpu().double(),
            None
            if getattr(module, n).bias is None
            else getattr(module, n).bias.detach().cpu().double(),
        )
        for n in params
    }
    return module, params


def _lin(x, wb):
    w, b = wb
    return x @ w.T + (0 if b is None else b)


def formula(params, query, keys, mask, **bug):
    """(context, weights) in float64 on the CPU, with one mistake switched on by `bug`."""
    q = query.detach().cpu().double()
    k = keys.detach().cpu().double()
    single = q.dim() == 2
    q = q[:, None] if single else q
    wq, uk = _lin(q, params["Wa"]), _lin(k, params["Ua"])
    if bug.get("swap_wa_ua"):
        wq, uk = _lin(q, params["Ua"]), _lin(k, params["Wa"])
    pre = wq[:, :, None] + uk[:, None]
    hidden = pre if bug.get("no_tanh") else torch.tanh(pre)
    scores = _lin(hidden, params["Va"]).squeeze(-1)
    m = None if mask is None else mask.detach().cpu().bool()[:, None]
    if m is not None and bug.get("mask_inverted"):
        m = ~m
    if m is not None and not bug.get("mask_ignored") and not bug.get("mask_after"):
        scores = scores.masked_fill(~m, float("-inf"))
    dim = 1 if bug.get("softmax_dim1") else -1
    weights = torch.softmax(scores, dim=dim)
    if m is not None and bug.get("mask_after"):
        weights = weights * m
    context = (scores if bug.get("raw_scores") else weights) @ k
    if single:
        return context[:, 0], weights[:, 0]
    return context, weights


BUGS = {
    "the mask is inverted: True marks a real key (keep it), False a padded key (weight 0)": {
        "mask_inverted": True
    },
    "the mask was ignored: padded keys (mask False) must get weight exactly 0": {
        "mask_ignored": True
    },
    "the mask was applied after the softmax (weights * mask): mask the scores with -inf "
    "before the softmax, so the real keys' weights still sum to 1": {
        "mask_after": True
    },
    "the softmax ran over dim 1, the queries of a 3-D query: it runs over the keys, the "
    "last dim": {"softmax_dim1": True},
    "the tanh is missing: score = Va(tanh(Wa q + Ua k))": {"no_tanh": True},
    "Wa and Ua were swapped: Wa projects the query, Ua the keys": {"swap_wa_ua": True},
    "the context used the raw scores: context = softmax(scores) @ keys": {
        "raw_scores": True
    },
}


def _check(module, params, query, keys, mask, context):
    saved = [t.clone() for t in (query, keys)] + (
        [mask.clone()] if mask is not None else []
    )
    out = call(module, query, keys) if mask is None else call(module, query, keys, mask)
    assert isinstance(out, tuple) and len(out) == 2, (
        "forward must return (context, weights)"
    )
    assert_unchanged(saved[0], query, "query")
    assert_unchanged(saved[1], keys, "keys")
    if mask is not None:
        assert_unchanged(saved[2], mask, "mask")
    ctx, w = out
    e_ctx, e_w = formula(params, query, keys, mask)
    atol, rtol = tolerance(query.dtype)
    for i, (name, got, want) in enumerate(
        (("weights", w, e_w), ("context", ctx, e_ctx))
    ):
        assert_close_diagnosed(
            got,
            want.to(device=query.device, dtype=query.dtype),
            lambda i=i: {
                why: (lambda bug=bug: formula(params, query, keys, mask, **bug)[1 - i])
                for why, bug in BUGS.items()
            },
            what=name,
            atol=atol,
            rtol=rtol,
            context=context,
        )
    if mask is not None:
        m = mask.bool()
        m = m if query.dim() == 2 else m[:, None, :].expand_as(w)
        masked = w.detach()[~m]
        assert bool((masked == 0).all()), (
            f"weights [{context}]: padded keys must get a weight of exactly 0, got values up "
            f"to {masked.abs().max().item():.3g} (fill the scores with -inf before the "
            "softmax: a finite fill such as -30 leaves a tiny weight)"
        )
    return ctx, w


DIMS = [(3, 5, 7), (4, 4, 6)]  # (query_dim, key_dim, hidden)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("qdims", [2, 3], ids=["query2d", "query3d"])
def test_matches_the_formula(impl, device, dtype, masked, qdims):
    dq, dk, hid = DIMS[0] if qdims == 2 else DIMS[1]
    B, Lq, Lk = 3, 4, 5
    module, params = make(impl, dq, dk, hid, device, dtype, seed=qdims)
    query = randn((B, dq) if qdims == 2 else (B, Lq, dq), 1, device, dtype)
    keys = randn((B, Lk, dk), 2, device, dtype, scale=1.5)
    mask = None
    if masked:
        lengths = torch.tensor([5, 2, 3])
        mask = (torch.arange(Lk)[None] < lengths[:, None]).to(device)
        mask[0, 1] = False  # a hole, not only right padding
    _check(
        module,
        params,
        query,
        keys,
        mask,
        f"{dtype}, query {tuple(query.shape)}, keys {tuple(keys.shape)}, "
        f"mask={'(B, Lk) with padding' if masked else 'None'}",
    )


def test_single_key_and_non_contiguous_keys(impl, device):
    module, params = make(impl, 3, 5, 7, device, torch.float64, seed=9)
    query = randn((2, 3, 3), 3, device, torch.float64)
    # (B, Lk=1, key_dim=5), a strided view
    keys = randn((2, 5, 3), 4, device, torch.float64).transpose(1, 2)[:, :1]
    _, w = _check(module, params, query, keys, None, "one key, non-contiguous keys")
    assert torch.all(w == 1) or torch.allclose(w, torch.ones_like(w)), (
        "weights: with one key every weight is 1"
    )


def test_gradients(impl, device):
    module, params = make(impl, 3, 4, 6, device, torch.float64, seed=11)
    query = randn((2, 3, 3), 5, device, torch.float64).requires_grad_()
    keys = randn((2, 5, 4), 6, device, torch.float64).requires_grad_()
    mask = torch.tensor(
        [[1, 1, 0, 1, 1], [1, 0, 0, 0, 1]], dtype=torch.bool, device=device
    )
    ctx, w = call(module, query, keys, mask)
    up_c = randn(tuple(ctx.shape), 7, device, torch.float64)
    up_w = randn(tuple(w.shape), 8, device, torch.float64)
    ((ctx * up_c).sum() + (w * up_w).sum()).backward()
    ref = {
        n: tuple(None if t is None else t.clone().requires_grad_() for t in wb)
        for n, wb in params.items()
    }
    rq, rk = (t.detach().cpu().requires_grad_() for t in (query, keys))
    pre = _lin(rq, ref["Wa"])[:, :, None] + _lin(rk, ref["Ua"])[:, None]
    scores = _lin(torch.tanh(pre), ref["Va"]).squeeze(-1)
    scores = scores.masked_fill(~mask.cpu()[:, None], float("-inf"))
    rw = torch.softmax(scores, -1)
    ((rw @ rk * up_c.cpu()).sum() + (rw * up_w.cpu()).sum()).backward()
    pairs = [("query", query.grad, rq.grad), ("keys", keys.grad, rk.grad)]
    for n in ("Wa", "Ua", "Va"):
        layer = getattr(module, n)
        pairs.append((f"{n}.weight", layer.weight.grad, ref[n][0].grad))
        if n != "Va":
            pairs.append((f"{n}.bias", layer.bias.grad, ref[n][1].grad))
    for name, got, want in pairs:
        assert got is not None, (
            f"no gradient reached `{name}`: is it detached or unused?"
        )
        assert_close(
            got,
            want.to(device),
            what=f"gradient of {name}",
            context="masked, 3-D query",
        )
