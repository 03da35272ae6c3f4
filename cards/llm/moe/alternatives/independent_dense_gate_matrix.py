# Written independently of this card's verifier, from the contract alone.
# Dense formulation of the sparse MoE: the router's float32 softmax, top-k, renormalise, then the
# top-k weights are scattered into a (tokens, experts) gate matrix that is zero off the chosen
# experts; every expert runs on the tokens whose gate column has any non-zero entry and the outputs
# are summed with those gates (an expert with no token is skipped). Experts are SwiGLU-shaped
# (gate_proj, up_proj, down_proj, no bias), as in the swiglu card.
import torch
from torch import nn


class Expert(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class MoE(nn.Module):
    def __init__(self, dim, hidden_dim, num_experts, top_k):
        super().__init__()
        self.num_experts, self.top_k = num_experts, top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList(
            Expert(dim, hidden_dim) for _ in range(num_experts)
        )

    def forward(self, x):
        B, T, D = x.shape
        tokens = x.reshape(B * T, D)
        router_logits = self.router(tokens)  # (B*T, E)
        probs = router_logits.float().softmax(dim=-1)
        top_w, top_i = probs.topk(self.top_k, dim=-1)
        top_w = top_w / top_w.sum(dim=-1, keepdim=True)
        gates = torch.zeros_like(probs).scatter(1, top_i, top_w)  # (B*T, E), float32
        out = torch.zeros(B * T, D, dtype=torch.float32, device=x.device)
        for e, expert in enumerate(self.experts):
            rows = gates[:, e].nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            y = expert(tokens[rows])
            out = out.index_add(0, rows, y.float() * gates[rows, e].unsqueeze(-1))
        return out.to(x.dtype).reshape(B, T, D), router_logits
