# expect: 1/D instead of 1/sqrt(D)
import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    _, bs, kvh, _ = key_cache.shape
    out = torch.empty_like(query)
    for s in range(S):
        L = int(context_lens[s])
        blocks = block_tables[s, : (L + bs - 1) // bs].long()
        k = key_cache[blocks].reshape(-1, kvh, D)[:L].float().repeat_interleave(H // kvh, dim=1)
        v = value_cache[blocks].reshape(-1, kvh, D)[:L].float().repeat_interleave(H // kvh, dim=1)
        scores = torch.einsum("hd,lhd->hl", query[s].float(), k) / D  # bug: 1/D
        out[s] = torch.einsum("hl,lhd->hd", scores.softmax(-1), v).to(query.dtype)
    return out
