"""Plain loops: read each sequence's tokens one at a time through the block table, exactly as
the contract states the address, then attend head by head in float32."""

import math

import torch


def paged_attention(query, key_cache, value_cache, block_tables, context_lens):
    num_seqs, num_heads, head_dim = query.shape
    block_size = key_cache.shape[1]
    num_kv_heads = key_cache.shape[2]
    per_kv = num_heads // num_kv_heads
    result = torch.zeros(
        num_seqs, num_heads, head_dim, dtype=torch.float32, device=query.device
    )
    for s in range(num_seqs):
        n = int(context_lens[s].item())
        keys, values = [], []
        for t in range(n):
            b = int(block_tables[s, t // block_size].item())
            keys.append(key_cache[b, t % block_size])  # (num_kv_heads, head_dim)
            values.append(value_cache[b, t % block_size])
        K = torch.stack(keys).float()  # (n, num_kv_heads, head_dim)
        V = torch.stack(values).float()
        for h in range(num_heads):
            kv = h // per_kv
            q = query[s, h].float()
            logits = (K[:, kv, :] @ q) / math.sqrt(head_dim)  # (n,)
            w = torch.exp(logits - logits.max())
            w = w / w.sum()
            result[s, h] = w @ V[:, kv, :]
    return result.to(query.dtype)
