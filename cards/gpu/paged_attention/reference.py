"""Paged attention for one decoding step, as vLLM's PagedAttention defines it (Kwon et al., 2023):
every sequence's KV cache lives in fixed-size blocks scattered over one shared pool, and a block
table maps each sequence's logical blocks to physical ones.

Vectorised over the batch: build every sequence's token -> (block, slot) address at once, gather
the keys and values with one fancy index, mask the positions past each context length, and run
grouped-query attention in float32. No Python loop over sequences, so no host-device syncs on a GPU.
"""

import math

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape  # one new token per sequence
    _, block_size, kv_heads, _ = key_cache.shape
    group = H // kv_heads  # query heads per KV head
    T = block_tables.shape[1] * block_size  # the longest context the table can address
    t = torch.arange(T, device=query.device)  # (T,) logical token positions
    # (S, T) this sequence's own tokens
    valid = t[None, :] < context_lens[:, None].long()
    # Token t of sequence s lives at cache[block_tables[s, t // block_size], t % block_size].
    # Table padding (past a sequence's last block) may hold any id: read block 0 there instead,
    # and the mask below drops those positions anyway.
    blocks = block_tables.long()[:, t // block_size]  # (S, T) physical block per token
    blocks = torch.where(valid, blocks, 0)
    slots = (t % block_size)[None, :].expand(S, T)
    work = torch.promote_types(query.dtype, torch.float32)  # half inputs: float32 math
    k = key_cache[blocks, slots].to(work)  # (S, T, kv_heads, D)
    v = value_cache[blocks, slots].to(work)
    # GQA without copying K/V per query head: query head h = g * group + j reads KV head g,
    # i.e. h // group, so split the heads as (kv_heads, group).
    q = query.to(work).view(S, kv_heads, group, D)
    # (S, kv_heads, group, T)
    scores = torch.einsum("sgjd,stgd->sgjt", q, k) / math.sqrt(D)
    scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
    probs = scores.softmax(dim=-1)  # context_lens >= 1: every row has a finite score
    out = torch.einsum("sgjt,stgd->sgjd", probs, v)
    return out.reshape(S, H, D).to(query.dtype)
