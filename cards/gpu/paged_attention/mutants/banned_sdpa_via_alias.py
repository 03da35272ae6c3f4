# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
from torch.nn import functional as nnf

_attend = nnf.scaled_dot_product_attention  # bug (dodge): SDPA under another name


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    _, bs, kvh, _ = key_cache.shape
    out = torch.empty_like(query)
    for s in range(S):
        L = int(context_lens[s])
        blocks = block_tables[s, : (L + bs - 1) // bs].long()
        k = key_cache[blocks].reshape(-1, kvh, D)[:L].repeat_interleave(H // kvh, dim=1)
        v = value_cache[blocks].reshape(-1, kvh, D)[:L].repeat_interleave(H // kvh, dim=1)
        o = _attend(query[s][:, None], k.transpose(0, 1), v.transpose(0, 1))
        out[s] = o[:, 0]
    return out
