# expect: the last token was left out
import math

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    _, bs, kvh, _ = key_cache.shape
    T = block_tables.shape[1] * bs
    t = torch.arange(T, device=query.device)
    # bug: "the new token is the query", so the context is taken as context_lens - 1 tokens
    valid = t[None, :] < (context_lens[:, None].long() - 1).clamp(min=1)
    blocks = torch.where(valid, block_tables.long()[:, t // bs], 0)
    k = key_cache[blocks, (t % bs)[None, :]].float()
    v = value_cache[blocks, (t % bs)[None, :]].float()
    q = query.float().view(S, kvh, H // kvh, D)
    scores = torch.einsum("sgjd,stgd->sgjt", q, k) / math.sqrt(D)
    scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
    out = torch.einsum("sgjt,stgd->sgjd", scores.softmax(-1), v)
    return out.reshape(S, H, D).to(query.dtype)
