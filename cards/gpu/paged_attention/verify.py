"""Verifier for paged attention (one decoding step): against torch's scaled_dot_product_attention
in float64 over each sequence's own tokens, gathered token by token from the block table.

Every case scatters the sequences' blocks over the pool in random order and fills everything a
correct kernel must not read with values that move the output a lot: the unused slots of each
last block, the blocks nobody owns, and the table's padding entries (random block ids, -1 or 0).
On a failed comparison the message names the mistake the output matches, if any (head mapping,
scale, token count, reading padding or unused slots, a causal mask)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
POISON_SHIFT = 20.0  # added to values nobody may read: attending one of them shows


def _scenario(
    lens, H, kv_heads, D, block_size, seed, dtype, device, share=0, pad="ids"
):
    """(query, key_cache, value_cache, block_tables, context_lens): sequence s owns
    ceil(lens[s] / block_size) blocks at random places in the pool; with `share`, sequence 1
    reuses sequence 0's first `share` blocks (a shared prompt prefix). Table padding is `pad`:
    "ids" (random block ids), "-1" or "0"."""
    g = generator(seed)
    S = len(lens)
    need = [-(-L // block_size) for L in lens]
    max_blocks = max(need) + 1  # every row has padding
    extra = 3  # blocks nobody owns
    n_blocks = sum(need) - share + extra
    order = torch.randperm(n_blocks, generator=g).tolist()
    tables = torch.zeros(S, max_blocks, dtype=torch.int64)
    owned = set()
    for s in range(S):
        for i in range(need[s]):
            if s == 1 and i < share:
                tables[s, i] = tables[0, i]
            else:
                tables[s, i] = order.pop()
            owned.add(int(tables[s, i]))
        for i in range(need[s], max_blocks):
            if pad == "ids":
                tables[s, i] = int(torch.randint(n_blocks, (1,), generator=g))
            else:
                tables[s, i] = int(pad)
    shape = (n_blocks, block_size, kv_heads, D)
    k = torch.randn(shape, generator=g, dtype=torch.float64)
    v = torch.randn(shape, generator=g, dtype=torch.float64)
    readable = torch.zeros(n_blocks, block_size, dtype=torch.bool)
    for s, L in enumerate(lens):
        for t in range(L):
            readable[tables[s, t // block_size], t % block_size] = True
    # Keys nobody may read get large scores and values far from the rest.
    k[~readable] = k[~readable] * 0.5 + 2.0
    v[~readable] += POISON_SHIFT
    q = torch.randn(S, H, D, generator=g, dtype=torch.float64)
    put = lambda t: t.to(device=device, dtype=dtype)
    return (
        put(q),
        put(k),
        put(v),
        tables.to(device=device, dtype=torch.int32),
        torch.tensor(lens, dtype=torch.int32, device=device),
    )


def _dense(
    query,
    key_cache,
    value_cache,
    block_tables,
    context_lens,
    *,
    heads="div",
    scale=None,
    lens=None,
    causal=False,
):
    """(S, H, D) float64: dense attention over each sequence's tokens, read one by one from the
    table. The keywords compute known mistakes: heads="mod" (h % kv_heads), another scale,
    `lens` (a function of (L, block_size, max_blocks) giving how many positions are read)."""
    q = query.detach().to("cpu", torch.float64)
    kc = key_cache.detach().to("cpu", torch.float64)
    vc = value_cache.detach().to("cpu", torch.float64)
    tables = block_tables.to("cpu", torch.int64)
    S, H, D = q.shape
    _, block_size, kv_heads, _ = kc.shape
    group = H // kv_heads
    index = torch.arange(H) // group if heads == "div" else torch.arange(H) % kv_heads
    out = torch.empty(S, H, D, dtype=torch.float64)
    for s in range(S):
        L = int(context_lens[s])
        n = L if lens is None else lens(L, block_size, tables.shape[1])
        pos = [(int(tables[s, t // block_size]), t % block_size) for t in range(n)]
        k = torch.stack([kc[b, o] for b, o in pos])[:, index]  # (n, H, D)
        v = torch.stack([vc[b, o] for b, o in pos])[:, index]
        qs = q[s][:, None, :]  # (H, 1, D)
        # (H, 1, D)
        o = F.scaled_dot_product_attention(
            qs, k.transpose(0, 1), v.transpose(0, 1), scale=scale
        )
        if causal:  # a causal mask aligned top-left: the one query sees token 0 only
            o = v[0][:, None, :]
        out[s] = o[:, 0, :]
    return out


def _variants(args):
    _, H, D = args[0].shape
    kv_heads = args[1].shape[2]

    def safe(**kw):
        return lambda: _dense(*args, **kw)

    found = []
    if kv_heads not in (1, H):
        found.append(
            (
                (
                    f"query head h read KV head h % num_kv_heads (KV heads tiled with "
                    f".repeat / .expand over a new leading dim): it must read KV head h // "
                    f"(H // num_kv_heads) = h // {H // kv_heads}, i.e. repeat_interleave along "
                    "the heads dim"
                ),
                safe(heads="mod"),
            )
        )
    found += [
        ("the scores were scaled by 1/D instead of 1/sqrt(D)", safe(scale=1.0 / D)),
        ("the scores were not scaled: multiply q . k by 1/sqrt(D)", safe(scale=1.0)),
        (
            (
                "the last token was left out: attend to all context_lens[s] tokens, positions "
                "0 .. context_lens[s] - 1 (the new token's key is already in the cache)"
            ),
            safe(lens=lambda L, b, m: max(L - 1, 1)),
        ),
        (
            (
                "one token too many: positions 0 .. context_lens[s] - 1 are the context; "
                "position context_lens[s] is an unused slot"
            ),
            safe(lens=lambda L, b, m: L + 1),
        ),
        (
            (
                "the unused slots of each sequence's last block were attended: keep only the "
                "first context_lens[s] tokens of its blocks"
            ),
            safe(lens=lambda L, b, m: -(-L // b) * b),
        ),
        (
            (
                "positions past context_lens[s] were attended (no length mask): the table's "
                "padding entries and the unused slots of the last block must be ignored; mask "
                "t >= context_lens[s] with -inf before the softmax"
            ),
            safe(lens=lambda L, b, m: m * b),
        ),
        (
            (
                "a causal mask was applied: a decoding query attends to every token of its "
                "context (no causal mask)"
            ),
            safe(causal=True),
        ),
    ]
    return found


def _call(impl, args):
    before = [t.clone() for t in args]
    out = call(impl.paged_attention, *args, what="paged_attention")
    names = ["query", "key_cache", "value_cache", "block_tables", "context_lens"]
    for name, b, t in zip(names, before, args):
        assert_unchanged(b, t, name)
    return out


def _check(impl, args, context):
    out = _call(impl, args)
    query = args[0]
    expected = _dense(*args).to(device=query.device, dtype=query.dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(args),
        what="paged_attention",
        context=context,
    )
    for name, t in zip(("query", "key_cache", "value_cache"), args[:3]):
        assert out.untyped_storage().data_ptr() != t.untyped_storage().data_ptr(), (
            f"paged_attention returned a view of {name}: return a new tensor"
        )
    return out


def test_basic(impl, device):
    # Lengths mid-block, a whole number of blocks, and a single token.
    args = _scenario([5, 8, 1], 4, 2, 16, 4, 0, torch.float32, device)
    _check(
        impl, args, "float32, S=3, H=4, 2 KV heads, D=16, block_size=4, lens [5, 8, 1]"
    )


HEADS = [(4, 4), (6, 3), (8, 2), (4, 1)]  # MHA, GQA (groups of 2 and 4), MQA


@pytest.mark.parametrize("heads", HEADS, ids=lambda h: f"H{h[0]}-kv{h[1]}")
def test_head_layouts(impl, device, heads):
    H, kv = heads
    args = _scenario([7, 3, 12], H, kv, 8, 4, H + kv, torch.float32, device)
    _check(
        impl,
        args,
        f"float32, H={H}, num_kv_heads={kv}, D=8, block_size=4, lens [7, 3, 12]",
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dtypes(impl, device, dtype):
    args = _scenario([9, 17, 2, 6], 4, 2, 32, 8, 3, dtype, device)
    out = _check(
        impl, args, f"{dtype}, H=4, 2 KV heads, D=32, block_size=8, lens [9, 17, 2, 6]"
    )
    assert out.dtype == dtype


@pytest.mark.parametrize("block_size", [1, 2, 16])
def test_block_sizes(impl, device, block_size):
    args = _scenario(
        [11, 4, 16], 4, 2, 16, block_size, 10 + block_size, torch.float32, device
    )
    _check(impl, args, f"float32, block_size={block_size}, lens [11, 4, 16]")


@pytest.mark.parametrize("pad", ["ids", "-1", "0"])
def test_table_padding_is_ignored(impl, device, pad):
    # Padding entries past each sequence's last block: random block ids (some point at blocks
    # of other sequences or at blocks nobody owns), -1, or 0.
    what = {"ids": "random block ids", "-1": "-1", "0": "0"}[pad]
    args = _scenario([6, 13, 3], 4, 2, 16, 4, 20, torch.float32, device, pad=pad)
    _check(
        impl,
        args,
        f"float32, table padding holds {what}, lens [6, 13, 3], block_size=4",
    )


def test_shared_prefix_blocks(impl, device):
    # Sequences 0 and 1 share their first two blocks (a common prompt), block ids in any order.
    args = _scenario([10, 14, 5], 4, 2, 16, 4, 30, torch.float32, device, share=2)
    tables = args[3]
    assert torch.equal(tables[0, :2], tables[1, :2]), "verifier bug: no shared blocks"
    _check(impl, args, "float32, sequences 0 and 1 share 2 blocks, lens [10, 14, 5]")


def test_one_sequence_and_long_context(impl, device):
    args = _scenario([1], 2, 1, 16, 4, 40, torch.float32, device)
    _check(impl, args, "float32, one sequence of one token")
    args = _scenario([61, 3], 4, 2, 16, 8, 41, torch.float16, device)
    _check(impl, args, "float16, lens [61, 3], block_size=8")


def test_sequences_are_independent(impl, device):
    # The same query and tokens in two batches: a sequence's output may not depend on the others.
    args = _scenario([9, 5, 12], 4, 2, 16, 4, 50, torch.float32, device)
    full = _check(impl, args, "float32, lens [9, 5, 12]")
    q, kc, vc, tables, lens = args
    alone = _call(
        impl, (q[1:2].clone(), kc, vc, tables[1:2].clone(), lens[1:2].clone())
    )
    tol = tolerance(torch.float32)
    assert_close_diagnosed(
        alone,
        full[1:2],
        list,
        atol=tol[0],
        rtol=tol[1],
        what="paged_attention",
        context="sequence 1 alone vs in the batch of 3",
    )
