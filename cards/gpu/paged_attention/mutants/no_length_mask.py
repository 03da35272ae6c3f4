# expect: no length mask
import math

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    _, bs, kvh, _ = key_cache.shape
    G = H // kvh
    # gathers every block of every row, table padding included...
    k = key_cache[block_tables.long()].flatten(1, 2).float()  # (S, T, kvh, D)
    v = value_cache[block_tables.long()].flatten(1, 2).float()
    q = query.float().view(S, kvh, G, D)
    scores = torch.einsum("sgjd,stgd->sgjt", q, k) / math.sqrt(D)
    # bug: ...and never masks the positions t >= context_lens[s]
    out = torch.einsum("sgjt,stgd->sgjd", scores.softmax(-1), v)
    return out.reshape(S, H, D).to(query.dtype)
