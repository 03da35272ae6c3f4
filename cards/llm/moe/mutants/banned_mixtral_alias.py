# expect: uses banned `transformers`
import torch
from torch import nn
from transformers.models.mixtral import modeling_mixtral as mm  # bug: dodge, Mixtral's block


class MoE(nn.Module):
    def __init__(self, dim, hidden_dim, num_experts, top_k):
        super().__init__()
        cfg = mm.MixtralConfig(
            hidden_size=dim,
            intermediate_size=hidden_dim,
            num_local_experts=num_experts,
            num_experts_per_tok=top_k,
        )
        self.block = mm.MixtralSparseMoeBlock(cfg)
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList()

    def forward(self, x):
        with torch.no_grad():
            self.block.gate.weight.copy_(self.router.weight)
        logits = self.router(x.reshape(-1, x.shape[-1]))
        return self.block(x), logits
