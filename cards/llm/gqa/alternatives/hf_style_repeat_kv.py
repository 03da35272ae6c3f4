"""Alternative in Hugging Face Llama's style: repeat_kv through expand + reshape, softmax computed
in float32 and cast back to the query dtype, heads reshaped with -1."""

import torch
from torch import nn


def _repeat_kv(h: torch.Tensor, n_rep: int) -> torch.Tensor:
    B, n_kv, T, d = h.shape
    if n_rep == 1:
        return h
    return (
        h[:, :, None, :, :].expand(B, n_kv, n_rep, T, d).reshape(B, n_kv * n_rep, T, d)
    )


class GroupedQueryAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, num_kv_heads, bias=False):
        super().__init__()
        self.head_dim = embed_dim // num_heads
        self.num_key_value_groups = num_heads // num_kv_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(embed_dim, num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(num_heads * self.head_dim, embed_dim, bias=bias)

    def forward(self, x, is_causal=False):
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = _repeat_kv(
            self.k_proj(x).view(shape).transpose(1, 2), self.num_key_value_groups
        )
        v = _repeat_kv(
            self.v_proj(x).view(shape).transpose(1, 2), self.num_key_value_groups
        )
        w = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        if is_causal:
            T = x.shape[1]
            causal = torch.triu(
                torch.full(
                    (T, T), torch.finfo(w.dtype).min, dtype=w.dtype, device=w.device
                ),
                1,
            )
            w = w + causal
        w = nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        y = torch.matmul(w, v).transpose(1, 2).reshape(*x.shape[:-1], -1).contiguous()
        return self.o_proj(y)
