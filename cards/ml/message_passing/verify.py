"""Verifier for message passing: against the definition in float64 (a loop over the nodes) on
random directed graphs with duplicate edges, a self-loop edge, isolated nodes (the last one
too) and mostly negative features, a graph without edges, float64 and gradients, for each of
sum, mean and max.

A failed comparison names the classic mistake the output matches: messages flowing
edge_index[1] -> edge_index[0], duplicate edges collapsed, self-loops added, a max that starts
from 0 (include_self=True on zeros), the mean returning the sum; NaN / -inf at nodes without an
incoming edge get their own message."""

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

AGGREGATES = ["sum", "mean", "max"]


def random_graph(N, E, seed):
    """(2, E') int64: E random directed edges among nodes 0..N-3, plus duplicates of some, a
    self-loop edge, and node N - 2 receiving exactly one edge; node N - 1 is isolated."""
    g = generator(seed)
    src = torch.randint(0, N - 2, (E,), generator=g)
    dst = torch.randint(0, N - 2, (E,), generator=g)
    dup = torch.randint(0, E, (max(2, E // 4),), generator=g)
    src = torch.cat([src, src[dup], torch.tensor([1, 0])])
    dst = torch.cat([dst, dst[dup], torch.tensor([1, N - 2])])
    order = torch.randperm(src.shape[0], generator=g)
    return torch.stack([src[order], dst[order]])


def formula(
    x,
    edge_index,
    aggregate,
    *,
    reverse=False,
    dedup=False,
    self_loops=False,
    max_from_zero=False,
):
    """float64 on the CPU, node by node, with one mistake per keyword."""
    x = (
        x
        if (x.requires_grad and x.dtype == torch.float64 and not x.is_cuda)
        else x.detach().to("cpu", torch.float64)
    )
    pairs = edge_index.cpu().t().tolist()
    if reverse:
        pairs = [(t, s) for s, t in pairs]
    if dedup:
        pairs = sorted(set(map(tuple, pairs)))
    if self_loops:
        pairs = pairs + [(i, i) for i in range(x.shape[0])]
    rows = []
    for i in range(x.shape[0]):
        msgs = [x[s] for s, t in pairs if t == i]
        if max_from_zero and aggregate == "max":
            msgs = msgs + [torch.zeros_like(x[i])]
        if not msgs:
            rows.append(torch.zeros_like(x[i]))
            continue
        m = torch.stack(msgs)
        if aggregate == "sum":
            rows.append(m.sum(0))
        elif aggregate == "mean":
            rows.append(m.mean(0))
        else:
            rows.append(m.max(0).values)
    return torch.stack(rows)


MAX_FROM_ZERO = (
    "the max started from 0 (scatter_reduce on zeros with include_self=True, or a clamp): "
    "negative maxima must stay negative; use include_self=False"
)


def _variants(x, edge_index, aggregate):
    found = [
        (
            "the messages flow the wrong way: node edge_index[1, e] receives x[edge_index[0, e]]",
            {"reverse": True},
        ),
        (
            "duplicate edges were collapsed: an edge listed twice is two messages",
            {"dedup": True},
        ),
        (
            "self-loops were added: a node's own features are not part of its aggregate",
            {"self_loops": True},
        ),
    ]
    if aggregate == "max":
        found.append(
            (
                MAX_FROM_ZERO,
                {"max_from_zero": True},
            )
        )
    out = [
        (why, lambda kw=kw: formula(x, edge_index, aggregate, **kw))
        for why, kw in found
    ]
    if aggregate == "mean":
        why = "'mean' returned the sum: divide by the number of messages received"
        out.append((why, lambda: formula(x, edge_index, "sum")))
    return out


def _run(impl, x, edge_index, aggregate, context):
    x_before, e_before = x.clone(), edge_index.clone()
    kwargs = {} if aggregate == "sum" else {"aggregate": aggregate}
    out = call(impl.message_passing, x, edge_index, **kwargs, what="message_passing")
    assert_unchanged(x_before, x, "x")
    assert_unchanged(e_before, edge_index, "edge_index")
    context = f"aggregate={aggregate!r}, {context}"
    if isinstance(out, torch.Tensor) and out.shape == x.shape:
        received = torch.zeros(x.shape[0], dtype=torch.bool)
        received[edge_index[1].cpu()] = True
        bad = ~torch.isfinite(out.detach().cpu()).all(1) & ~received
        if bad.any():
            i = int(bad.nonzero()[0])
            value = out[i][~torch.isfinite(out[i])][0].item()
            raise AssertionError(
                f"output [{context}]: node {i} has no incoming edge and got {value}: a node "
                "without messages gets 0 for every aggregate (count.clamp(min=1) for the mean, "
                "include_self=False on zeros for the max)"
            )
    atol, rtol = tolerance(x.dtype)
    assert_close_diagnosed(
        out,
        formula(x, edge_index, aggregate).to(device=x.device, dtype=x.dtype),
        lambda: _variants(x, edge_index, aggregate),
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


@pytest.mark.parametrize("aggregate", AGGREGATES)
@pytest.mark.parametrize(
    "N,E,F,seed",
    [(8, 12, 3, 1), (13, 30, 5, 2), (5, 4, 1, 3)],
    ids=["N8", "N13", "N5-F1"],
)
def test_matches_definition(impl, device, aggregate, N, E, F, seed):
    x = (randn((N, F), seed=seed, device=device) - 1.5).contiguous()  # mostly negative
    edges = random_graph(N, E, seed).to(device)
    _run(
        impl,
        x,
        edges,
        aggregate,
        f"{N} nodes, {edges.shape[1]} edges with duplicates, node {N - 1} isolated",
    )


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_graph_without_edges_gives_zeros(impl, device, aggregate):
    x = randn((4, 3), seed=4, device=device)
    edges = torch.zeros(2, 0, dtype=torch.int64, device=device)
    out = _run(impl, x, edges, aggregate, "no edges")
    assert torch.all(out == 0), "no edges: every node gets 0"


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_float64(impl, device, aggregate):
    x = randn((9, 4), seed=5, device=device, dtype=torch.float64) - 1.0
    _run(impl, x, random_graph(9, 14, 5).to(device), aggregate, "float64 features")


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_gradients_reach_x(impl, device, aggregate):
    x = (randn((8, 3), seed=6, device=device) - 1.0).requires_grad_()
    edges = random_graph(8, 12, 6).to(device)
    kwargs = {} if aggregate == "sum" else {"aggregate": aggregate}
    out = call(impl.message_passing, x, edges, **kwargs, what="message_passing")
    upstream = randn(out.shape, seed=7, device=device)
    (out * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached x: is the output detached?"
    x64 = x.detach().cpu().double().requires_grad_()
    (formula(x64, edges, aggregate) * upstream.cpu().double()).sum().backward()
    assert_close(
        x.grad,
        x64.grad.to(device=device, dtype=x.dtype),
        what=f"gradient of x (aggregate={aggregate!r})",
    )
