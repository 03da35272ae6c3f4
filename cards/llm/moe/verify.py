"""Verifier for the top-k MoE layer: against transformers' MixtralSparseMoeBlock (float32) and a
float64 formula, with the same seeded weights copied into both. Mixtral (transformers 5) keeps
its experts as 3-D tensors: `experts.gate_up_proj` (E, 2*hidden, dim), the gate rows first
then the up rows, and `experts.down_proj` (E, dim, hidden); its router is `gate.weight`
(E, dim), and the block returns only the output (its router's first output is the logits).

On a failed comparison the message names the routing mistake the output matches (no
renormalisation, a softmax with the other logits set to 0, raw logits as weights, a softmax
over the wrong dim, weights paired with the wrong experts, a dense mixture, top-1 only)."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import MixtralConfig
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    copy_linear,
    generator,
    randn,
)

# (dim, hidden_dim, num_experts, top_k)
CONFIGS = [(16, 24, 4, 2), (12, 20, 8, 2), (8, 16, 6, 3), (10, 14, 4, 1), (8, 12, 3, 3)]
CONFIG_IDS = ["D16-E4-k2", "D12-E8-k2", "D8-E6-k3", "D10-E4-k1", "D8-E3-k3-all"]
EXPERT_SHAPES = {
    "gate_proj": "hidden, dim",
    "up_proj": "hidden, dim",
    "down_proj": "dim, hidden",
}


def _weights(dim, hidden, E, seed):
    """Seeded float64 weights: router (E, dim), per expert gate/up (hidden, dim), down (dim, hidden)."""
    g = generator(seed)

    def w(*shape, scale=1.0):
        return (
            torch.randn(*shape, generator=g, dtype=torch.float64)
            * scale
            / math.sqrt(shape[-1])
        )

    return {
        "router": w(E, dim, scale=3.0),  # spread routing probabilities, no near-ties
        "experts": [
            {
                "gate_proj": w(hidden, dim),
                "up_proj": w(hidden, dim),
                "down_proj": w(dim, hidden),
            }
            for _ in range(E)
        ],
    }


def _make(impl, config, device, dtype=torch.float32, seed=0):
    dim, hidden, E, k = config
    module = call(impl.MoE, dim, hidden, E, k)
    router = getattr(module, "router", None)
    assert isinstance(router, torch.nn.Linear), (
        "`router` must be an nn.Linear(dim, num_experts)"
    )
    experts = getattr(module, "experts", None)
    assert isinstance(experts, torch.nn.ModuleList), (
        "`experts` must be an nn.ModuleList"
    )
    assert len(experts) == E, f"expected {E} experts in `experts`, got {len(experts)}"
    for name, spelled in EXPERT_SHAPES.items():
        lin = getattr(experts[0], name, None)
        assert isinstance(lin, torch.nn.Module) and hasattr(lin, "weight"), (
            f"each expert needs an nn.Linear `{name}` (gate_proj, up_proj, down_proj, as SwiGLU)"
        )
        want = (hidden, dim) if spelled.startswith("hidden") else (dim, hidden)
        assert tuple(lin.weight.shape) == want, (
            f"expert `{name}.weight` with dim={dim}, hidden_dim={hidden}: expected shape "
            f"({spelled}) = {want}, got {tuple(lin.weight.shape)}"
        )
    # rounded to the module's dtype, so the float64 formula sees the very weights it holds
    w = _weights(dim, hidden, E, seed)
    w = {
        "router": w["router"].to(dtype).double(),
        "experts": [
            {n: t.to(dtype).double() for n, t in ew.items()} for ew in w["experts"]
        ],
    }
    module = module.to(device=device, dtype=dtype)
    copy_linear(router, w["router"].to(device))
    for expert, ew in zip(experts, w["experts"]):
        for name in EXPERT_SHAPES:
            copy_linear(getattr(expert, name), ew[name].to(device))
    module.eval()
    return module, w


def _mixtral(config, w, device):
    dim, hidden, E, k = config
    cfg = MixtralConfig(
        hidden_size=dim,
        intermediate_size=hidden,
        num_local_experts=E,
        num_experts_per_tok=k,
        router_jitter_noise=0.0,
    )
    cfg._experts_implementation = "eager"
    block = MixtralSparseMoeBlock(cfg).eval()
    with torch.no_grad():
        block.gate.weight.copy_(w["router"])
        for e, ew in enumerate(w["experts"]):
            # transformers 5: one (E, 2*hidden, dim) tensor, gate rows then up rows
            block.experts.gate_up_proj[e].copy_(
                torch.cat([ew["gate_proj"], ew["up_proj"]], 0)
            )
            block.experts.down_proj[e].copy_(ew["down_proj"])
    return block.to(device)


# -- float64 formula and the classic mistakes ---------------------------------------------------
def _expert_outputs(tokens, w, swap=False):
    """(N, E, dim): every expert on every token, float64."""
    outs = []
    for ew in w["experts"]:
        g, u = tokens @ ew["gate_proj"].T, tokens @ ew["up_proj"].T
        h = g * F.silu(u) if swap else F.silu(g) * u
        outs.append(h @ ew["down_proj"].T)
    return torch.stack(outs, 1)


def _dense(values, idx, E):
    """(N, k) weights at expert indices idx (N, k) -> (N, E) with zeros elsewhere."""
    return torch.zeros(values.shape[0], E, dtype=values.dtype).scatter_add(
        1, idx, values
    )


def _routing(logits, k):
    """{name: (N, E) routing weights}, the right one under "right"."""
    E = logits.shape[-1]
    probs = logits.softmax(-1)
    top_p, idx = probs.topk(k, dim=-1)
    top_l = logits.gather(1, idx)
    masked0 = torch.zeros_like(logits).scatter(1, idx, top_l)
    sorted_idx = idx.sort(dim=-1).values
    out = {
        "right": _dense(top_p / top_p.sum(-1, keepdim=True), idx, E),
        "the k routing weights are not renormalised: they are the softmax over all "
        "experts of the selected ones (softmax then top-k, or top-k then a softmax over all "
        "num_experts logits); divide them by their sum, or take the softmax over the k "
        "selected logits only": _dense(top_p, idx, E),
        "the logits outside the top-k were set to 0, not -inf, before the softmax over all "
        "experts: the other experts still take probability mass; softmax over the k selected "
        "logits (or renormalise the top-k probabilities)": _dense(
            masked0.softmax(-1).gather(1, idx), idx, E
        ),
        "the routing weights are the raw top-k router logits: apply the softmax": _dense(
            top_l, idx, E
        ),
        "every expert contributes, weighted by the full softmax (a dense mixture): only the "
        "top_k experts of each token may contribute": probs,
        "only each token's top expert is used, with weight 1: use the top_k experts": _dense(
            torch.ones_like(top_p[:, :1]), idx[:, :1], E
        ),
    }
    if logits.shape[0] > 1:
        p0 = logits.softmax(0)  # normalised over the tokens, and top-k'd from that
        w0, i0 = p0.topk(k, dim=-1)
        out[
            "the softmax was taken over the tokens (dim 0), not over the experts (the last dim)"
        ] = [
            _dense(w0 / w0.sum(-1, keepdim=True), i0, E),
            _dense(w0, i0, E),
        ]
        out[
            "after top-k the softmax was taken over the tokens (dim 0), not over the k "
            "selected logits of each token"
        ] = _dense(top_l.softmax(0), idx, E)
    if k > 1:
        out[
            "the routing weights are paired with the wrong experts: the k weights come in "
            "descending order while the expert indices were reordered (e.g. sorted); keep "
            "each weight with the index topk returned beside it"
        ] = _dense(top_p / top_p.sum(-1, keepdim=True), sorted_idx, E)
    return out


def _formula(x, w, k, *, routing="right", swap=False):
    """(out (B, T, dim), router_logits (B*T, E)) in float64 on the CPU."""
    B, T, D = x.shape
    if x.device.type != "cpu" or x.dtype != torch.float64:
        x = x.detach().to("cpu", torch.float64)
    tokens = x.reshape(B * T, D)
    logits = tokens @ w["router"].T
    weights = _routing(logits, k)[routing]
    out = (weights.unsqueeze(-1) * _expert_outputs(tokens, w, swap)).sum(1)
    return out.reshape(B, T, D), logits


def _output_variants(x, w, k):
    """(why, output) pairs: a mistake may come in several forms."""
    B, T, D = x.shape
    tokens = x.detach().to("cpu", torch.float64).reshape(B * T, D)
    logits = tokens @ w["router"].T
    experts = _expert_outputs(tokens, w)
    mix = lambda wt, ex=experts: (wt.unsqueeze(-1) * ex).sum(1).reshape(B, T, D)
    routing = _routing(logits, k)
    found = [
        (why, mix(wt))
        for why, forms in routing.items()
        if why != "right"
        for wt in (forms if isinstance(forms, list) else [forms])
    ]
    found.append(
        (
            (
                "the SiLU was applied to up_proj, not gate_proj: an expert is "
                "down_proj(silu(gate_proj(x)) * up_proj(x))"
            ),
            mix(routing["right"], _expert_outputs(tokens, w, swap=True)),
        )
    )
    return found


def _unpack(result, context):
    ok = isinstance(result, (tuple, list)) and len(result) == 2
    assert ok, (
        f"forward must return (out, router_logits) [{context}], got {type(result).__name__}"
    )
    return result


def _check_logits(logits, expected, x, context, **tol):
    B, T, _ = x.shape
    if isinstance(logits, torch.Tensor) and logits.shape == (B, T, expected.shape[-1]):
        raise AssertionError(
            f"router_logits [{context}]: shape {tuple(logits.shape)}; flatten the tokens: "
            f"expected (B*T, num_experts) = {tuple(expected.shape)}"
        )
    exp64 = expected.detach().to("cpu", torch.float64)
    assert_close_diagnosed(
        logits,
        expected,
        lambda: {
            "router_logits holds the softmax probabilities: return the raw logits router(x)": exp64.softmax(
                -1
            )
        },
        what="router_logits",
        context=context,
        **tol,
    )


def _check_out(out, expected, x, w, k, context, **tol):
    assert_close_diagnosed(
        out,
        expected,
        lambda: _output_variants(x, w, k),
        what="out",
        context=context,
        **tol,
    )


def _x(shape, seed, device, w, k, dtype=torch.float32):
    """Seeded input whose tokens all have their k-th and (k+1)-th router logits well apart
    (no near-tie decides the routing): the first seed from `seed` on that gives one."""
    E = w["router"].shape[0]
    for s in range(seed, seed + 1000):
        x = randn(shape, s, "cpu", torch.float64)
        if k == E:
            break
        logits = x.reshape(-1, shape[-1]) @ w["router"].T
        top = logits.topk(k + 1, dim=-1).values
        if (top[:, k - 1] - top[:, k]).min() > 1e-2:
            break
    return x.to(device=device, dtype=dtype)


# -- tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("bt", [(2, 5), (1, 1)], ids=["B2-T5", "B1-T1"])
def test_matches_mixtral(impl, device, config, bt):
    dim, hidden, E, k = config
    module, w = _make(impl, config, device, seed=sum(config))
    block = _mixtral(config, w, device)
    x = _x((*bt, dim), 100 + bt[0] * 10 + bt[1], device, w, k)
    before = x.clone()
    out, logits = _unpack(module(x), "float32")
    assert_unchanged(before, x, "x")
    context = f"dim={dim}, hidden_dim={hidden}, num_experts={E}, top_k={k}, x of shape {tuple(x.shape)}"
    with torch.no_grad():
        ref_logits = block.gate(x.reshape(-1, dim))[0]
        ref_out = block(x.clone())
    _check_logits(logits, ref_logits, x, context)
    _check_out(out, ref_out, x, w, k, context)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=CONFIG_IDS[:3])
def test_float64(impl, device, config):
    dim, _, E, k = config
    module, w = _make(impl, config, device, dtype=torch.float64, seed=7)
    x = _x((2, 6, dim), 8, device, w, k, torch.float64)
    out, logits = _unpack(module(x), "float64")
    ref_out, ref_logits = _formula(x, w, k)
    context = f"float64, num_experts={E}, top_k={k}"
    # Routing in float32, as Mixtral does (softmax(..., dtype=torch.float)), is correct too:
    # float64 keeps its dtype but is held to float32 accuracy.
    tol = {"atol": 1e-6, "rtol": 1e-5}
    _check_logits(logits, ref_logits.to(device), x, context, **tol)
    _check_out(out, ref_out.to(device), x, w, k, context, **tol)


@pytest.mark.parametrize(
    "config", [CONFIGS[0], CONFIGS[2]], ids=[CONFIG_IDS[0], CONFIG_IDS[2]]
)
def test_gradients(impl, device, config):
    dim, _, _, k = config
    module, w = _make(impl, config, device, seed=9)
    module.train()  # no dropout or noise: training mode changes nothing
    x = _x((2, 4, dim), 10, device, w, k).requires_grad_()
    upstream = randn((2, 4, dim), 11, device)
    out, _ = _unpack(module(x), "gradients")
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "out does not require a gradient: is it detached?"
    )
    (out * upstream).sum().backward()

    w64 = {
        "router": w["router"].clone().requires_grad_(),
        "experts": [
            {n: t.clone().requires_grad_() for n, t in ew.items()}
            for ew in w["experts"]
        ],
    }
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    ref_out, _ = _formula(x64, w64, k)
    (ref_out * upstream.to("cpu", torch.float64)).sum().backward()

    tol = {"atol": 1e-5, "rtol": 1e-4}
    g = module.router.weight.grad
    assert g is not None and torch.any(g != 0), (
        "no gradient reached the router: the routing weights were detached (or computed "
        "under no_grad, or from the indices only); the weights must come from the softmax of "
        "the router logits so that the router learns"
    )
    assert_close(
        g,
        w64["router"].grad.float().to(device),
        what="gradient of router.weight",
        **tol,
    )
    assert x.grad is not None, "no gradient reached x"
    assert_close(x.grad, x64.grad.float().to(device), what="gradient of x", **tol)
    for e, (expert, ew) in enumerate(zip(module.experts, w64["experts"])):
        for name in EXPERT_SHAPES:
            ref = ew[name].grad
            got = getattr(expert, name).weight.grad
            if ref is None or not torch.any(ref != 0):
                continue  # an expert no token chose
            assert got is not None, f"no gradient reached experts[{e}].{name}"
            assert_close(
                got,
                ref.float().to(device),
                what=f"gradient of experts[{e}].{name}.weight",
                **tol,
            )
