"""Alternative in the style of the original Mixtral code: top-k on the raw logits, then a
softmax over the k selected logits (the same weights as renormalised top-k probabilities),
and a plain loop over tokens and slots, expert by expert for each token."""

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden_dim, bias=False):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class MoE(nn.Module):
    def __init__(self, dim, hidden_dim, num_experts, top_k):
        super().__init__()
        self.k = top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList(
            [SwiGLU(dim, hidden_dim) for _ in range(num_experts)]
        )

    def forward(self, x):
        flat = x.view(-1, x.shape[-1])
        router_logits = self.router(flat)
        top_logits, top_idx = torch.topk(router_logits, self.k, dim=1)
        top_w = F.softmax(top_logits, dim=1)
        rows = []
        for n in range(flat.shape[0]):
            acc = 0
            for s in range(self.k):
                expert = self.experts[int(top_idx[n, s])]
                acc = acc + top_w[n, s] * expert(flat[n])
            rows.append(acc)
        return torch.stack(rows).view_as(x), router_logits
