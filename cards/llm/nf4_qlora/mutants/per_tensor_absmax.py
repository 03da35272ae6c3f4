# expect: one absmax for the whole tensor
import math

import torch
import torch.nn.functional as F
from torch import nn

NF4 = torch.tensor(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]
)  # fmt: skip


def nf4_quantize(weight: torch.Tensor, block_size: int = 64):
    flat = weight.detach().float().flatten()
    pad = -flat.numel() % block_size  # the last block may be partial: pad with zeros
    blocks = F.pad(flat, (0, pad)).view(-1, block_size)  # (n_blocks, block_size)
    absmax = blocks.abs().amax().reshape(1)  # bug: one absmax for the whole tensor
    normed = blocks / absmax.clamp(min=1e-12)[:, None]  # in [-1, 1]
    # The subtlety: nearest level, not the one below. argmin over all 16 distances.
    levels = NF4.to(flat.device)
    codes = (normed[..., None] - levels).abs().argmin(dim=-1).to(torch.uint8)
    return codes.flatten()[: flat.numel()], absmax


def nf4_dequantize(
    codes: torch.Tensor, absmax: torch.Tensor, shape, block_size: int = 64
) -> torch.Tensor:
    values = NF4.to(codes.device)[codes.long()]  # (numel,)
    scale = absmax.float()
    return (values * scale).view(shape)


class QLoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        w = base.weight
        codes, absmax = nf4_quantize(w)
        # Only the 4-bit codes and per-block scales: no full-precision weight is kept.
        self.register_buffer("weight_codes", codes)
        self.register_buffer("weight_absmax", absmax)
        self.weight_shape = tuple(w.shape)
        bias = None if base.bias is None else base.bias.detach().clone()
        self.register_buffer("bias", bias)
        self.lora_A = nn.Parameter(torch.empty(r, w.shape[1], device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(w.shape[0], r, device=w.device))
        self.scaling = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = nf4_dequantize(self.weight_codes, self.weight_absmax, self.weight_shape)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        out = F.linear(x, w.to(x.dtype), bias)  # (..., out): the frozen 4-bit path
        lora = (x @ self.lora_A.T.to(x.dtype)) @ self.lora_B.T.to(x.dtype)
        return out + lora * self.scaling
