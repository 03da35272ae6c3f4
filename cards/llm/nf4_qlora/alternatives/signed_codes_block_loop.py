"""Alternative: a loop over blocks, signed int8 codes (index - 8), the nearest level by a
midpoint count, the bias kept as a buffer, a random-normal lora_A, and nn.functional.linear
for both paths."""

import torch
import torch.nn.functional as F
from torch import nn

TABLE = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)  # fmt: skip


def nf4_quantize(weight, block_size=64):
    flat = weight.detach().flatten().float()
    table = torch.tensor(TABLE, device=flat.device)
    mids = (table[1:] + table[:-1]) / 2  # (15,)
    codes, scales = [], []
    for start in range(0, flat.numel(), block_size):
        block = flat[start : start + block_size]
        amax = block.abs().max()
        x = block / amax if amax > 0 else block
        idx = (x[:, None] > mids[None, :]).sum(dim=1)  # levels below x's midpoint
        codes.append((idx - 8).to(torch.int8))
        scales.append(amax)
    return torch.cat(codes), torch.stack(scales)


def nf4_dequantize(codes, absmax, shape, block_size=64):
    table = torch.tensor(TABLE, device=codes.device)
    vals = table[codes.long() + 8]
    out = torch.empty_like(vals)
    for b, start in enumerate(range(0, vals.numel(), block_size)):
        out[start : start + block_size] = vals[start : start + block_size] * absmax[b]
    return out.view(*shape)


class QLoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        codes, absmax = nf4_quantize(base.weight, 64)
        self.register_buffer("codes", codes)
        self.register_buffer("absmax", absmax)
        self.shape = base.weight.shape
        self.register_buffer(
            "bias", None if base.bias is None else base.bias.detach().clone()
        )
        device = base.weight.device
        self.lora_A = nn.Parameter(
            torch.randn(r, base.in_features, device=device) / r**0.5
        )
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, device=device))
        self.scale = alpha / r

    def forward(self, x):
        w = nf4_dequantize(self.codes, self.absmax, self.shape).to(x.dtype)
        base_out = F.linear(x, w, self.bias)
        return base_out + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)
