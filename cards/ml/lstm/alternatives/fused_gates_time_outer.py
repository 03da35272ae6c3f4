"""Parameters via setattr; time is the outer loop and layers the inner one; the two
projections are one matmul on [x_t, h] against [W_ih, W_hh] concatenated."""

import torch
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.batch_first = (
            hidden_size,
            num_layers,
            batch_first,
        )
        s = hidden_size**-0.5
        for k in range(num_layers):
            d = input_size if k == 0 else hidden_size
            setattr(
                self,
                f"weight_ih_l{k}",
                nn.Parameter((torch.rand(4 * hidden_size, d) * 2 - 1) * s),
            )
            setattr(
                self,
                f"weight_hh_l{k}",
                nn.Parameter((torch.rand(4 * hidden_size, hidden_size) * 2 - 1) * s),
            )
            setattr(
                self,
                f"bias_ih_l{k}",
                nn.Parameter((torch.rand(4 * hidden_size) * 2 - 1) * s),
            )
            setattr(
                self,
                f"bias_hh_l{k}",
                nn.Parameter((torch.rand(4 * hidden_size) * 2 - 1) * s),
            )

    def forward(self, input, hx=None):
        steps = input.unbind(1 if self.batch_first else 0)
        B, Hd = steps[0].shape[0], self.hidden_size
        if hx is None:
            z = torch.zeros(
                self.num_layers, B, Hd, dtype=input.dtype, device=input.device
            )
            hx = (z, z)
        hs, cs = list(hx[0].unbind(0)), list(hx[1].unbind(0))
        outs = []
        for x_t in steps:
            inp = x_t
            for k in range(self.num_layers):
                w = torch.cat(
                    [
                        getattr(self, f"weight_ih_l{k}"),
                        getattr(self, f"weight_hh_l{k}"),
                    ],
                    dim=1,
                )
                b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
                z = torch.cat([inp, hs[k]], dim=1) @ w.t() + b
                i = torch.sigmoid(z[:, :Hd])
                f = torch.sigmoid(z[:, Hd : 2 * Hd])
                g = torch.tanh(z[:, 2 * Hd : 3 * Hd])
                o = torch.sigmoid(z[:, 3 * Hd :])
                cs[k] = f * cs[k] + i * g
                hs[k] = o * torch.tanh(cs[k])
                inp = hs[k]
            outs.append(inp)
        output = torch.stack(outs, 1 if self.batch_first else 0)
        return output, (torch.stack(hs), torch.stack(cs))
