"""Sparse mixture of experts with top-k routing (Shazeer et al., 2017; as Mixtral, Jiang et
al., 2024): a linear router, SwiGLU experts, softmax then top-k then renormalise.

Left out: router jitter noise, expert capacity and token dropping, shared experts, the
load-balancing auxiliary loss and grouped-GEMM kernels.
"""

import torch
import torch.nn.functional as F
from torch import nn


class _Expert(nn.Module):
    """One SwiGLU feed-forward expert (the `swiglu` card's SwiGLU, bias=False)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoE(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, num_experts: int, top_k: int):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList(
            _Expert(dim, hidden_dim) for _ in range(num_experts)
        )

    def forward(self, x: torch.Tensor):
        B, T, D = x.shape
        tokens = x.reshape(B * T, D)  # (N, D)
        router_logits = self.router(tokens)  # (N, E)
        probs = F.softmax(router_logits, dim=-1)
        weights, idx = probs.topk(self.top_k, dim=-1)  # (N, k) each
        # The subtlety: the k kept probabilities sum to less than 1; renormalise them.
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            # the tokens routed to e, and in which slot
            token, slot = torch.where(idx == e)
            if token.numel() == 0:
                continue
            y = expert(tokens[token]) * weights[token, slot, None]
            out = out.index_add(0, token, y.to(out.dtype))
        return out.reshape(B, T, D), router_logits
