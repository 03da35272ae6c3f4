"""Flash-decoding style: walk each sequence's blocks one at a time with a running max, running
denominator and running weighted sum (the online softmax), never holding the whole context."""

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    S, H, D = query.shape
    block_size, kv_heads = key_cache.shape[1], key_cache.shape[2]
    group = H // kv_heads
    scale = D**-0.5
    lens = context_lens.tolist()
    out = query.new_empty(S, H, D)
    for s in range(S):
        q = query[s].float() * scale  # (H, D)
        m = torch.full((H,), float("-inf"), device=query.device)
        denom = torch.zeros(H, device=query.device)
        acc = torch.zeros(H, D, device=query.device)
        n_blocks = (lens[s] + block_size - 1) // block_size
        for i in range(n_blocks):
            b = int(block_tables[s, i])
            # the last block may be partial
            used = min(block_size, lens[s] - i * block_size)
            # (used, H, D)
            k = key_cache[b, :used].float().repeat_interleave(group, dim=1)
            v = value_cache[b, :used].float().repeat_interleave(group, dim=1)
            logits = torch.einsum("hd,uhd->hu", q, k)
            m_new = torch.maximum(m, logits.amax(dim=1))
            correction = torch.exp(m - m_new)
            p = torch.exp(logits - m_new[:, None])
            denom = denom * correction + p.sum(dim=1)
            acc = acc * correction[:, None] + torch.einsum("hu,uhd->hd", p, v)
            m = m_new
        out[s] = (acc / denom[:, None]).to(query.dtype)
    return out
