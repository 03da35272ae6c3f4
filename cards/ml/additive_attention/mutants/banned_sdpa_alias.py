# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
from torch import nn
from torch.nn import functional as G


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.Wa = nn.Linear(query_dim, hidden_dim)
        self.Ua = nn.Linear(key_dim, hidden_dim)
        self.Va = nn.Linear(hidden_dim, 1)

    def forward(self, query, keys, mask=None):
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query
        scores = self.Va(torch.tanh(self.Wa(q).unsqueeze(2) + self.Ua(keys).unsqueeze(1))).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        z = keys.new_zeros(keys.shape[0], q.shape[1], 1)
        # bug: not from scratch, SDPA with zero queries/keys and the scores as its bias
        context = G.scaled_dot_product_attention(z, keys.new_zeros(keys.shape[0], keys.shape[1], 1), keys, attn_mask=scores)
        weights = torch.softmax(scores, -1)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)
