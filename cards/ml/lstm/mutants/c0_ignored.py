# expect: c_0 was ignored
import math

import torch
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        bound = 1 / math.sqrt(hidden_size)
        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            # nn.LSTM's names; the 4H rows are the gates stacked in the order (i, f, g, o)
            for name, shape in (
                (f"weight_ih_l{k}", (4 * hidden_size, fan_in)),
                (f"weight_hh_l{k}", (4 * hidden_size, hidden_size)),
                (f"bias_ih_l{k}", (4 * hidden_size,)),
                (f"bias_hh_l{k}", (4 * hidden_size,)),
            ):
                self.register_parameter(
                    name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
                )

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input  # (L, B, in)
        L, B = x.shape[0], x.shape[1]
        if hx is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            hx = (zeros, zeros)
        h0, c0 = hx
        h_n, c_n = [], []
        for k in range(self.num_layers):
            w_ih, w_hh = (
                getattr(self, f"weight_ih_l{k}"),
                getattr(self, f"weight_hh_l{k}"),
            )
            b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
            xw = x @ w_ih.T + b  # the input projection of every step at once
            h, c, outs = h0[k], torch.zeros_like(h0[k]), []  # bug: c_0 dropped
            for t in range(L):
                # the 4H rows are the gates in the order i, f, g, o
                i, f, g, o = (xw[t] + h @ w_hh.T).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            x = torch.stack(outs)  # this layer's h_t feed the next layer
            h_n.append(h)
            c_n.append(c)
        output = x.transpose(0, 1) if self.batch_first else x
        # h_n and c_n are (num_layers, B, H) even when batch_first
        return output, (torch.stack(h_n), torch.stack(c_n))
