"""Alternative: build a dense (N, E) routing matrix with scatter (zeros off the top-k, the
renormalised top-k probabilities on it), run every expert on every token, and mix with one
einsum. Wasteful, but the same output and gradients."""

import torch
from torch import nn


class MoE(nn.Module):
    def __init__(self, dim, hidden_dim, num_experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        experts = []
        for _ in range(num_experts):
            e = nn.Module()
            e.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
            e.up_proj = nn.Linear(dim, hidden_dim, bias=False)
            e.down_proj = nn.Linear(hidden_dim, dim, bias=False)
            experts.append(e)
        self.experts = nn.ModuleList(experts)

    def forward(self, x):
        shape = x.shape
        h = x.reshape(-1, shape[-1])
        router_logits = self.router(h)
        probs = torch.softmax(router_logits, dim=-1)
        vals, idx = probs.topk(self.top_k, dim=-1)
        dense = torch.zeros_like(probs).scatter(
            -1, idx, vals / vals.sum(-1, keepdim=True)
        )
        # (N, E, dim)
        outs = torch.stack(
            [
                e.down_proj(nn.functional.silu(e.gate_proj(h)) * e.up_proj(h))
                for e in self.experts
            ],
            dim=1,
        )
        out = torch.einsum("ne,ned->nd", dense, outs)
        return out.reshape(shape), router_logits
