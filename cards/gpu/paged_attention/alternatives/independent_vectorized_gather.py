# Written from the contract alone, by a writer who had not read this card's verifier.
"""Paged attention for one decode step, fully vectorised: every sequence's
token slots 0..max_ctx-1 are translated to (physical block, offset) at once,
table padding is neutralised before the gather (so padding ids such as -1
never index the cache), K/V are gathered densely, and positions past each
context length are masked with -inf before one batched softmax. Grouped-query
heads are handled by viewing the query heads as (kv_head, group)."""

import math

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    _num_blocks, block_size, KVH, _ = key_cache.shape
    G = H // KVH
    device = query.device
    lens = context_lens.to(device=device, dtype=torch.long)
    T = int(lens.max().item())

    t = torch.arange(T, device=device)  # (T,)
    valid = t[None, :] < lens[:, None]  # (S, T)
    logical = (t // block_size)[None, :].expand(S, T)  # (S, T)
    tables = block_tables.to(device=device, dtype=torch.long)
    phys = torch.gather(tables, 1, logical.clamp(max=tables.shape[1] - 1))
    phys = torch.where(valid, phys, torch.zeros_like(phys))  # ignore padding ids
    slot = (t % block_size)[None, :].expand(S, T)

    k = key_cache[phys, slot].float()  # (S, T, KVH, D)
    v = value_cache[phys, slot].float()
    q = query.float().reshape(S, KVH, G, D)

    scores = torch.einsum("skgd,stkd->skgt", q, k) / math.sqrt(D)
    scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("skgt,stkd->skgd", probs, v)
    return out.reshape(S, H, D).to(query.dtype)
