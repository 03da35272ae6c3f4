# unflatten + einsum, torch.where for masking, softmax in float32 then back to the input dtype.
import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        self.num_heads = num_heads
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self, name, nn.Linear(embed_dim, embed_dim, bias=bias))

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        H = self.num_heads
        q = self.q_proj(query).unflatten(-1, (H, -1))  # (B, L, H, d)
        k = self.k_proj(key).unflatten(-1, (H, -1))  # (B, S, H, d)
        v = self.v_proj(value).unflatten(-1, (H, -1))  # (B, S, H, d)
        scores = torch.einsum("blhd,bshd->bhls", q, k).float() * q.shape[-1] ** -0.5
        L, S = scores.shape[-2:]
        if is_causal:
            rows = torch.arange(L, device=scores.device).unsqueeze(-1)
            cols = torch.arange(S, device=scores.device)
            scores = torch.where(cols <= rows, scores, float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = torch.where(attn_mask, scores, float("-inf"))
            else:
                scores = scores + attn_mask.float()
        weights = scores.softmax(-1).to(v.dtype)
        out = torch.einsum("bhls,bshd->blhd", weights, v).flatten(-2)  # (B, L, E)
        return self.out_proj(out)
