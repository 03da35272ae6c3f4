# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch
from torch import nn


class LSTM(nn.Module):
    """LSTM whose gate pre-activations are viewed as (..., 4, H) and split by index,
    computed with einsum."""

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        k = 1.0 / math.sqrt(hidden_size)
        for l in range(num_layers):
            isz = input_size if l == 0 else hidden_size
            self.register_parameter(
                f"weight_ih_l{l}",
                nn.Parameter(torch.empty(4 * hidden_size, isz).uniform_(-k, k)),
            )
            self.register_parameter(
                f"weight_hh_l{l}",
                nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-k, k)),
            )
            self.register_parameter(
                f"bias_ih_l{l}",
                nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k)),
            )
            self.register_parameter(
                f"bias_hh_l{l}",
                nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k)),
            )

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        H = self.hidden_size
        if hx is None:
            z = torch.zeros(self.num_layers, B, H, dtype=x.dtype, device=x.device)
            h0, c0 = z, z
        else:
            h0, c0 = hx
        hs, cs = [], []
        layer_in = x
        for l in range(self.num_layers):
            W = getattr(self, f"weight_ih_l{l}").view(4, H, -1)
            U = getattr(self, f"weight_hh_l{l}").view(4, H, H)
            b = (getattr(self, f"bias_ih_l{l}") + getattr(self, f"bias_hh_l{l}")).view(
                4, H
            )
            xin = torch.einsum("tbi,ghi->tbgh", layer_in, W) + b  # (T, B, 4, H)
            h, c = h0[l], c0[l]
            outs = []
            for t in range(T):
                g = xin[t] + torch.einsum("bj,ghj->bgh", h, U)
                i_g = torch.sigmoid(g[:, 0])
                f_g = torch.sigmoid(g[:, 1])
                g_g = torch.tanh(g[:, 2])
                o_g = torch.sigmoid(g[:, 3])
                c = f_g * c + i_g * g_g
                h = o_g * torch.tanh(c)
                outs.append(h)
            layer_in = torch.stack(outs, 0) if outs else x.new_zeros(0, B, H)
            hs.append(h)
            cs.append(c)
        out = layer_in.transpose(0, 1) if self.batch_first else layer_in
        return out, (torch.stack(hs, 0), torch.stack(cs, 0))
