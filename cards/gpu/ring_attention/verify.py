"""Verifier for ring attention: W ranks over gloo (the card kit's `run_world`), each passing its
shard of q, k, v; every rank's output must equal its rows of full attention, computed in float64
on the whole sequence.

In each rank the call runs under the kit's `CommWatch` (every collective whatever its spelling,
the elements sent, the peers) and `TensorWatch` (the first op output larger than
2·B·H·n·max(n, D) elements, with the attempt's line). The inputs must be left untouched.
A failed comparison names the mistake whose values the output equals: a causal mask in local
positions, a missing or wrong scale, shards not merged, a merge that does not rescale.
"""

import math

import pytest
import torch

from cards.checks import TensorWatch, assert_close_diagnosed, call, randn, tolerance
from cards.distributed import CommWatch, attempt_path, run_world


def _rank(rank, world, impl, q, k, v, is_causal):
    """In a rank: this rank's shards, the attempt's call, watched."""
    n = q.shape[2] // world
    rows = slice(rank * n, (rank + 1) * n)
    mine = [t[:, :, rows].clone() for t in (q, k, v)]
    before = [t.clone() for t in mine]
    B, H, _, D = mine[0].shape
    limit = 2 * B * H * n * max(n, D)
    big = TensorWatch(lambda t: t.numel() > limit, attempt_path())
    with CommWatch() as comm, big:
        out = call(impl.ring_attention, *mine, is_causal=is_causal)
    for name, a, b in zip("qkv", before, mine):
        assert torch.equal(a, b), (
            f"input `{name}` was modified in place; leave the caller's tensors untouched"
        )
    return out, comm.summary(), big.found


def _attention(q, k, v, mask, scale):
    """Float64 attention of (.., N, D) inputs with a bool mask (True = visible) or None."""
    s = (q.double() @ k.double().transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v.double()


def _online(q, k, v, order, scale, mask, rescale_acc=True, rescale_sum=True):
    """Float64 online softmax over the key blocks `order` [(start, end)], with a merge bug
    when rescale_acc / rescale_sum is False (the running values not multiplied by
    exp(m_old - m_new))."""
    q, k, v = q.double(), k.double(), v.double()
    m = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=torch.float64)
    l = torch.zeros_like(m)
    acc = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=torch.float64)
    for lo, hi in order:
        s = (q @ k[..., lo:hi, :].transpose(-1, -2)) * scale
        if mask is not None:
            s = s.masked_fill(~mask[:, lo:hi], float("-inf"))
        if mask is not None and not mask[:, lo:hi].any():
            continue
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.exp(s - m_new)
        a = torch.exp(m - m_new).nan_to_num(0.0)
        l = (a * l if rescale_sum else l) + p.sum(-1, keepdim=True)
        acc = (a * acc if rescale_acc else acc) + p @ v[..., lo:hi, :]
        m = m_new
    return acc / l


def _variants(q, k, v, rank, world, is_causal):
    """[(the mistake, rank's rows as that mistake computes them)]."""
    N, D = q.shape[2:]
    n = N // world
    rows = slice(rank * n, (rank + 1) * n)
    i = torch.arange(N)[rows, None]
    j = torch.arange(N)[None, :]
    causal = j <= i if is_causal else None
    qr = q[:, :, rows]
    scale = 1 / math.sqrt(D)
    out = []
    if is_causal:
        out += [
            (
                (
                    "the causal mask uses local positions (j <= i inside every shard) instead of "
                    "global ones: query rn + i sees key sn + j only when sn + j <= rn + i"
                ),
                _attention(qr, k, v, (j % n) <= (i % n), scale),
            ),
            (
                (
                    "shards from later ranks are not masked: only the own shard gets the causal "
                    "triangle; keys of ranks after this one are all in the future"
                ),
                _attention(qr, k, v, (j // n != i // n) | (j <= i), scale),
            ),
            ("the causal mask is ignored", _attention(qr, k, v, None, scale)),
        ]
    else:
        out.append(
            (
                "a causal mask was applied although is_causal=False",
                _attention(qr, k, v, j <= i, scale),
            )
        )
    out += [
        (
            (
                "only this rank's own keys and values were attended: the shards from the other "
                "ranks were never merged in"
            ),
            _attention(
                qr,
                k[:, :, rows],
                v[:, :, rows],
                None if causal is None else causal[:, rows],
                scale,
            ),
        ),
        ("the scale is 1/D instead of 1/sqrt(D)", _attention(qr, k, v, causal, 1 / D)),
        ("the scores are not scaled by 1/sqrt(D)", _attention(qr, k, v, causal, 1.0)),
    ]
    for direction in (1, -1):
        order = [
            (
                ((rank - direction * s) % world) * n,
                ((rank - direction * s) % world + 1) * n,
            )
            for s in range(world)
        ]
        for acc_ok, sum_ok, what in (
            (False, True, "the accumulator"),
            (True, False, "the running sum"),
            (False, False, "the accumulator and the running sum"),
        ):
            out.append(
                (
                    (
                        f"the online softmax does not rescale {what} by exp(m_old - m_new) when "
                        "the running max grows"
                    ),
                    _online(qr, k, v, order, scale, causal, acc_ok, sum_ok),
                )
            )
    return out


def _check(impl, world, B, H, n, D, is_causal, dtype, seed):
    N = world * n
    q = randn((B, H, N, D), seed, dtype=dtype, scale=1.5)
    k = randn((B, H, N, D), seed + 1, dtype=dtype, scale=1.5)
    v = randn((B, H, N, D), seed + 2, dtype=dtype)
    context = (
        f"{world} ranks, {dtype} shards (B, H, n, D) = ({B}, {H}, {n}, {D}), "
        f"is_causal={is_causal}"
    )
    results = run_world(_rank, world, impl, q, k, v, is_causal, what=context)
    i = torch.arange(N)[:, None]
    j = torch.arange(N)[None, :]
    full = _attention(q, k, v, (j <= i) if is_causal else None, 1 / math.sqrt(D))
    shard = B * H * n * D
    limit = 2 * B * H * n * max(n, D)
    for rank, (out, comm, big) in enumerate(results):
        where = f"rank {rank} [{context}]"
        if comm["collectives"]:
            op, line = comm["collectives"][0]
            at = f" (your line {line})" if line else ""
            raise AssertionError(
                f"{where}: ran the collective `{op}`{at}: every collective is banned here; "
                "pass the key/value shards with send/recv (or isend/irecv)"
            )
        if big is not None:
            op, shape, line = big
            at = f" on your line {line}" if line else ""
            raise AssertionError(
                f"{where}: `{op}`{at} produced a tensor of shape {shape} "
                f"({math.prod(shape)} elements); no tensor may exceed 2·B·H·n·max(n, D) = "
                f"{limit}: never gather every key/value shard or build the n × W·n score "
                "matrix, attend one shard at a time"
            )
        right, left = (rank + 1) % world, (rank - 1) % world
        sent, received = set(comm["peers_sent"]), set(comm["peers_received"])
        assert (sent <= {right} and received <= {left}) or (
            sent <= {left} and received <= {right}
        ), (
            f"{where}: sent to ranks {sorted(sent)} and received from ranks "
            f"{sorted(received)}; on a ring each rank sends to one neighbour and receives from "
            f"the other (rank {rank}: to {right}, from {left}, or the other way round)"
        )
        assert comm["sent"] <= 2 * world * shard, (
            f"{where}: sent {comm['sent']} elements = {comm['sent'] / shard:g} shard-sizes "
            f"(B·H·n·D = {shard}); at most 2W = {2 * world} shard-sizes may be sent (k and v "
            "once per step)"
        )
        rows = slice(rank * n, (rank + 1) * n)
        expected = full[:, :, rows].to(dtype)
        atol, rtol = tolerance(dtype)
        assert_close_diagnosed(
            out,
            expected,
            lambda rank=rank: _variants(q, k, v, rank, world, is_causal),
            atol=atol,
            rtol=rtol,
            context=where,
        )


@pytest.mark.parametrize(
    ("world", "is_causal"), [(2, False), (3, True), (4, False), (4, True)]
)
def test_matches_full_attention(impl, device, world, is_causal):
    # n = 5 < D = 8: 2·B·H·n·D is two shards, so gathered keys (W shards) are too big for W > 2
    _check(
        impl, world, 2, 2, 5, 8, is_causal, torch.float32, seed=world * 10 + is_causal
    )


def test_shards_longer_than_the_head_dim(impl, device):
    # n = 6 > D = 4: the limit is 2·B·H·n², so an n × W·n score matrix is too big for W > 2
    _check(impl, 3, 1, 2, 6, 4, True, torch.float32, seed=7)


def test_bfloat16(impl, device):
    _check(impl, 3, 1, 2, 5, 8, True, torch.bfloat16, seed=9)
