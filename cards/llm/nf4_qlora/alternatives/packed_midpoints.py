"""Alternative: two codes packed per byte (high nibble first), nearest level found with
searchsorted on the midpoints between levels, absmax kept as (n_blocks, 1), the bias a frozen
nn.Parameter, and the forward written with einsum."""

import math

import torch
from torch import nn

_LEVELS = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]  # fmt: skip


def _table(device):
    return torch.tensor(_LEVELS, device=device)


def nf4_quantize(weight, block_size=64):
    flat = weight.detach().reshape(-1).to(torch.float32)
    n = flat.numel()
    n_blocks = -(-n // block_size)
    padded = flat.new_zeros(n_blocks * block_size)
    padded[:n] = flat
    blocks = padded.view(n_blocks, block_size)
    absmax = blocks.abs().max(dim=1, keepdim=True).values
    normed = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    table = _table(weight.device)
    mids = (table[1:] + table[:-1]) / 2
    idx = torch.searchsorted(mids, normed.contiguous()).reshape(-1)
    if idx.numel() % 2:
        idx = torch.cat([idx, idx.new_zeros(1)])
    pairs = idx.view(-1, 2).to(torch.uint8)
    packed = (pairs[:, 0] << 4) | pairs[:, 1]
    return packed, absmax


def nf4_dequantize(codes, absmax, shape, block_size=64):
    hi = (codes >> 4).long()
    lo = (codes & 0x0F).long()
    idx = torch.stack([hi, lo], dim=1).reshape(-1)
    n = math.prod(shape)
    vals = _table(codes.device)[idx[:n]]
    scale = absmax.reshape(-1, 1).expand(-1, block_size).reshape(-1)[:n]
    return (vals * scale).reshape(tuple(shape))


class QLoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.out_features, self.in_features = base.weight.shape
        packed, absmax = nf4_quantize(base.weight)
        self.register_buffer("packed", packed)
        self.register_buffer("absmax", absmax)
        if base.bias is not None:
            self.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        else:
            self.bias = None
        dev = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, device=dev))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, device=dev))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r

    def forward(self, x):
        w = nf4_dequantize(
            self.packed, self.absmax, (self.out_features, self.in_features)
        )
        y = torch.einsum("...i,oi->...o", x, w.to(x.dtype))
        if self.bias is not None:
            y = y + self.bias
        delta = torch.einsum("...i,ri,or->...o", x, self.lora_A, self.lora_B)
        return y + self.scaling * delta
