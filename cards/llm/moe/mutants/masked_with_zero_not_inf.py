# expect: set to 0, not -inf
import torch
import torch.nn.functional as F
from torch import nn


class Expert(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoE(nn.Module):
    def __init__(self, dim, hidden_dim, num_experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList(Expert(dim, hidden_dim) for _ in range(num_experts))

    def forward(self, x):
        B, T, D = x.shape
        tokens = x.reshape(-1, D)
        router_logits = self.router(tokens)

        top, idx = router_logits.topk(self.top_k, dim=-1)
        masked = torch.zeros_like(router_logits).scatter(1, idx, top)  # bug: 0, not -inf
        weights = F.softmax(masked, dim=-1).gather(1, idx)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(idx == e)
            if len(token):
                out = out.index_add(0, token, expert(tokens[token]) * weights[token, slot, None])
        return out.reshape(B, T, D), router_logits

