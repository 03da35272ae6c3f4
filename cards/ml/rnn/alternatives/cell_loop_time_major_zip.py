"""Parameters set with setattr in a loop; a per-step cell that applies both projections with
torch.addmm, every layer advanced inside one loop over time (time outer, layers inner)."""

import torch
from torch import nn


class RNN(nn.Module):
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
                nn.Parameter((torch.rand(hidden_size, d) * 2 - 1) * s),
            )
            setattr(
                self,
                f"weight_hh_l{k}",
                nn.Parameter((torch.rand(hidden_size, hidden_size) * 2 - 1) * s),
            )
            setattr(
                self,
                f"bias_ih_l{k}",
                nn.Parameter((torch.rand(hidden_size) * 2 - 1) * s),
            )
            setattr(
                self,
                f"bias_hh_l{k}",
                nn.Parameter((torch.rand(hidden_size) * 2 - 1) * s),
            )

    def forward(self, input, hx=None):
        seq = input.unbind(1) if self.batch_first else input.unbind(0)
        B = seq[0].shape[0]
        if hx is None:
            hx = torch.zeros(
                self.num_layers,
                B,
                self.hidden_size,
                dtype=input.dtype,
                device=input.device,
            )
        hs = list(hx.unbind(0))
        outs = []
        for x_t in seq:
            inp = x_t
            for k in range(self.num_layers):
                a = torch.addmm(
                    getattr(self, f"bias_ih_l{k}"),
                    inp,
                    getattr(self, f"weight_ih_l{k}").t(),
                )
                a = torch.addmm(
                    a + getattr(self, f"bias_hh_l{k}"),
                    hs[k],
                    getattr(self, f"weight_hh_l{k}").t(),
                )
                hs[k] = torch.tanh(a)
                inp = hs[k]
            outs.append(inp)
        output = torch.stack(outs, 1 if self.batch_first else 0)
        return output, torch.stack(hs, 0)
