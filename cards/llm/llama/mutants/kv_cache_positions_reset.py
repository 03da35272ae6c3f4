"""Mutant: a KV-cached generate that rotates every decoded token at position 0."""
# expect: the first new token is right

import torch
import torch.nn.functional as F
from torch import nn


class _Norm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        var = x.float().square().mean(dim=-1, keepdim=True)
        return self.weight * (x.float() / torch.sqrt(var + self.eps)).type_as(x)


class _SelfAttn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv = c.num_attention_heads, c.num_key_value_heads
        self.d = c.hidden_size // self.h
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kv * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)


class _FFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)


class _Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = _SelfAttn(c)
        self.mlp = _FFN(c)
        self.input_layernorm = _Norm(c.hidden_size, c.rms_norm_eps)
        self.post_attention_layernorm = _Norm(c.hidden_size, c.rms_norm_eps)


class _Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([_Layer(c) for _ in range(c.num_hidden_layers)])
        self.norm = _Norm(c.hidden_size, c.rms_norm_eps)


def _rope(x, pos, theta):
    d = x.shape[-1]
    freq = theta ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    ang = pos.float()[:, None] * freq[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    a, b = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.theta = float(config.rope_parameters["rope_theta"])
        self.model = _Inner(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def _run(self, ids, start=0, cache=None, attention_mask=None):
        B, T = ids.shape
        x = self.model.embed_tokens(ids)
        past = cache[0][0].shape[2] if cache else 0
        pos = torch.arange(start, start + T, device=ids.device)
        S = past + T
        key_pos = torch.arange(S, device=ids.device)
        visible = key_pos[None, :] <= (past + torch.arange(T, device=ids.device))[:, None]  # (T, S)
        visible = visible[None, None].expand(B, 1, T, S)
        if attention_mask is not None:
            visible = visible & attention_mask.bool()[:, None, None, :]
        bias = torch.zeros(visible.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~visible, torch.finfo(x.dtype).min)
        for i, layer in enumerate(self.model.layers):
            a = layer.self_attn
            h = layer.input_layernorm(x)
            q = a.q_proj(h).view(B, T, a.h, a.d).transpose(1, 2)
            k = a.k_proj(h).view(B, T, a.kv, a.d).transpose(1, 2)
            v = a.v_proj(h).view(B, T, a.kv, a.d).transpose(1, 2)
            q, k = _rope(q, pos, self.theta), _rope(k, pos, self.theta)
            if cache is not None:
                if i < len(cache):
                    k = torch.cat([cache[i][0], k], dim=2)
                    v = torch.cat([cache[i][1], v], dim=2)
                    cache[i] = (k, v)
                else:
                    cache.append((k, v))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, enable_gqa=True)
            x = x + a.o_proj(y.transpose(1, 2).reshape(B, T, a.h * a.d))
            m = layer.mlp
            h = layer.post_attention_layernorm(x)
            x = x + m.down_proj(F.silu(m.gate_proj(h)) * m.up_proj(h))
        return self.lm_head(self.model.norm(x))

    def forward(self, input_ids, attention_mask=None):
        return self._run(input_ids, attention_mask=attention_mask)

    @torch.inference_mode()
    def generate(self, input_ids, max_new_tokens):
        out = input_ids.clone()
        if max_new_tokens <= 0:
            return out
        cache = []
        logits = self._run(input_ids, 0, cache)
        for step in range(max_new_tokens):
            nxt = logits[:, -1].argmax(dim=-1, keepdim=True)
            out = torch.cat([out, nxt], dim=1)
            if step + 1 < max_new_tokens:
                logits = self._run(nxt, 0, cache)  # bug: position restarts at 0
        return out
