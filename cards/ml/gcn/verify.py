"""Verifier for the GCN layer: against the formula D^-1/2 (A + I) D^-1/2 (x W^T) + b in float64,
with the attempt's own parameters (seeded values written into them), on random directed graphs
with isolated nodes (the last node too) and nodes that only send, a graph without edges,
in_features == out_features, no bias, float64, and gradients.

A failed comparison names the classic mistake the output matches, each computed in float64:
messages flowing target -> source, the out-degree (or the total degree) in D, the graph made
undirected, no self-loops, row (mean) normalisation or none, the bias added before the
aggregation, x @ W instead of x @ W^T, a ReLU at the end."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)


def random_graph(N, seed, p=0.3):
    """Directed edges (2, E) int64 without self-loops or duplicates, in random order. The last
    node is isolated and node N - 3 only sends (when N >= 4); about half of the linked pairs
    are one-way, so the direction matters."""
    g = generator(seed)
    src, dst = torch.meshgrid(torch.arange(N), torch.arange(N), indexing="ij")
    src, dst = src.flatten(), dst.flatten()
    keep = (torch.rand(N * N, generator=g) < p) & (src != dst)
    if N >= 4:
        keep &= (src != N - 1) & (dst != N - 1)
        keep &= dst != N - 3
        keep |= (src == N - 3) & (dst == 0)
    edges = torch.stack([src[keep], dst[keep]])
    return edges[:, torch.randperm(edges.shape[1], generator=g)]


def _f64(t):
    """float64 on the CPU; a float64 CPU leaf that requires grad is used as is."""
    if t is None or (
        t.requires_grad and t.is_leaf and t.dtype == torch.float64 and not t.is_cuda
    ):
        return t
    return t.detach().to("cpu", torch.float64)


def formula(
    x,
    edge_index,
    weight,
    bias,
    *,
    reverse=False,
    degree="in",
    undirected=False,
    self_loops=True,
    norm="sym",
    bias_before=False,
    transpose_w=True,
    relu=False,
):
    """The layer in float64 on the CPU from a dense matrix, with one mistake per keyword."""
    x, W, b = _f64(x), _f64(weight), _f64(bias)
    src, dst = edge_index.cpu()
    if reverse:
        src, dst = dst, src
    N = x.shape[0]
    A = torch.zeros(N, N, dtype=torch.float64)
    A.index_put_(
        (dst, src), torch.ones(src.shape[0], dtype=torch.float64), accumulate=True
    )
    if undirected:
        A = ((A + A.T) > 0).double()
    eye = torch.eye(N, dtype=torch.float64)
    M = A + eye if self_loops else A
    if degree == "in":
        d = A.sum(1) + 1
    elif degree == "out":
        d = A.sum(0) + 1
    elif degree == "total":
        d = A.sum(0) + A.sum(1) + 1
    else:  # no +1 for the self-loop, kept finite
        d = A.sum(1).clamp(min=1)
    if norm == "sym":
        M = d.rsqrt()[:, None] * M * d.rsqrt()[None, :]
    elif norm == "row":
        M = M / d[:, None]
    h = x @ (W.T if transpose_w else W)
    if bias_before and b is not None:
        out = M @ (h + b)
    else:
        out = M @ h + (0 if b is None else b)
    return out.relu() if relu else out


REVERSED = (
    "the messages flow the wrong way (edge_index[1] -> edge_index[0]): node "
    "edge_index[1, e] receives from edge_index[0, e]"
)
ROW_NORM = "row (mean) normalisation D^-1 (A + I): GCN normalises on both sides, 1 / sqrt(d_i d_j)"


def _variants(x, edge_index, weight, bias):
    args = (x, edge_index, weight, bias)
    found = [
        (
            REVERSED,
            {"reverse": True, "degree": "out"},
        ),
        (
            REVERSED,
            {"reverse": True},
        ),
        (
            "D used the out-degree: it is the in-degree (edges received) + 1",
            {"degree": "out"},
        ),
        (
            "D counted the edges in both directions: it is the in-degree + 1 only",
            {"degree": "total"},
        ),
        (
            "the graph was made undirected: the edges are directed, j -> i only adds to node i",
            {"undirected": True},
        ),
        (
            "no self-loops: add I to A (each node also receives its own x W^T, weight 1/d_i)",
            {"self_loops": False},
        ),
        (
            "no self-loops: add I to A (each node also receives its own x W^T, weight 1/d_i)",
            {"self_loops": False, "degree": "noloop"},
        ),
        (
            ROW_NORM,
            {"norm": "row"},
        ),
        (
            "the adjacency was not normalised: GCN scales each message by 1 / sqrt(d_i d_j)",
            {"norm": "none"},
        ),
        (
            "the bias was added before the aggregation: add it once, after",
            {"bias_before": True},
        ),
        (
            "x @ weight: weight is (out, in) as nn.Linear's, multiply by its transpose",
            {"transpose_w": False},
        ),
        ("a ReLU was applied: the layer has no activation", {"relu": True}),
    ]
    return [(why, lambda kw=kw: formula(*args, **kw)) for why, kw in found]


def make(impl, fin, fout, device, dtype=torch.float32, seed=0, bias=True):
    kwargs = {} if bias else {"bias": False}
    layer = call(impl.GCNLayer, fin, fout, **kwargs, what="GCNLayer")
    args = f"GCNLayer({fin}, {fout}, bias={bias})"
    params = dict(layer.named_parameters())
    names = {"weight", "bias"} if bias else {"weight"}
    assert set(params) == names, (
        f"{args}: the parameters must be exactly {sorted(names)}, got {sorted(params)}"
    )
    assert tuple(params["weight"].shape) == (fout, fin), (
        f"{args}: weight shape expected {(fout, fin)} (out, in), got "
        f"{tuple(params['weight'].shape)}"
    )
    if bias:
        assert tuple(params["bias"].shape) == (fout,), (
            f"{args}: bias shape expected {(fout,)}, got {tuple(params['bias'].shape)}"
        )
    else:
        assert getattr(layer, "bias", None) is None, f"{args}: self.bias must be None"
    layer = layer.to(device=device, dtype=dtype)
    g = generator(100 + seed)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(fout, fin, generator=g) * 0.7)
        if bias:
            layer.bias.copy_(torch.randn(fout, generator=g))
    return layer


def run(layer, x, edge_index, context):
    x_before, e_before = x.clone(), edge_index.clone()
    out = layer(x, edge_index)
    assert_unchanged(x_before, x, "x")
    assert_unchanged(e_before, edge_index, "edge_index")
    weight, bias = layer.weight, layer.bias
    atol, rtol = tolerance(x.dtype)
    assert_close_diagnosed(
        out,
        formula(x, edge_index, weight, bias).to(device=x.device, dtype=x.dtype),
        lambda: _variants(x, edge_index, weight, bias),
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


CASES = [(7, 5, 3, 1), (10, 4, 4, 2), (12, 6, 2, 3), (9, 3, 5, 4)]


@pytest.mark.parametrize(
    "N,fin,fout,seed", CASES, ids=[f"N{c[0]}-{c[1]}to{c[2]}" for c in CASES]
)
def test_matches_formula_on_directed_graphs(impl, device, N, fin, fout, seed):
    layer = make(impl, fin, fout, device, seed=seed)
    x = randn((N, fin), seed=seed, device=device)
    edges = random_graph(N, seed).to(device)
    run(
        layer,
        x,
        edges,
        f"{N} nodes, {edges.shape[1]} directed edges, last node isolated",
    )


def test_graph_without_edges(impl, device):
    layer = make(impl, 4, 3, device, seed=5)
    x = randn((5, 4), seed=5, device=device)
    edges = torch.zeros(2, 0, dtype=torch.int64, device=device)
    run(layer, x, edges, "no edges: out = x W^T + b")


def test_without_bias(impl, device):
    layer = make(impl, 5, 4, device, seed=6, bias=False)
    x = randn((8, 5), seed=6, device=device)
    run(layer, x, random_graph(8, 6).to(device), "bias=False")


def test_float64(impl, device):
    layer = make(impl, 3, 4, device, dtype=torch.float64, seed=7)
    x = randn((9, 3), seed=7, device=device, dtype=torch.float64)
    run(layer, x, random_graph(9, 7).to(device), "float64 layer and input")


def test_gradients_reach_x_weight_and_bias(impl, device):
    layer = make(impl, 4, 3, device, seed=8)
    x = randn((8, 4), seed=8, device=device).requires_grad_()
    edges = random_graph(8, 8).to(device)
    out = layer(x, edges)
    upstream = randn(out.shape, seed=9, device=device)
    (out * upstream).sum().backward()
    x64 = x.detach().cpu().double().requires_grad_()
    w64 = layer.weight.detach().cpu().double().requires_grad_()
    b64 = layer.bias.detach().cpu().double().requires_grad_()
    (formula(x64, edges, w64, b64) * upstream.cpu().double()).sum().backward()
    for name, t, ref in (
        ("x", x, x64),
        ("weight", layer.weight, w64),
        ("bias", layer.bias, b64),
    ):
        assert t.grad is not None, (
            f"no gradient reached `{name}`: is the output detached?"
        )
        assert_close(
            t.grad,
            ref.grad.to(device=device, dtype=t.dtype),
            what=f"gradient of {name}",
        )
