# expect: uses banned `torch.lstm_cell`
import math

import torch as T
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.batch_first = hidden_size, num_layers, batch_first
        bound = 1 / math.sqrt(hidden_size)
        for k in range(num_layers):
            d = input_size if k == 0 else hidden_size
            for name, shape in (
                (f"weight_ih_l{k}", (4 * hidden_size, d)),
                (f"weight_hh_l{k}", (4 * hidden_size, hidden_size)),
                (f"bias_ih_l{k}", (4 * hidden_size,)),
                (f"bias_hh_l{k}", (4 * hidden_size,)),
            ):
                self.register_parameter(name, nn.Parameter(T.empty(shape).uniform_(-bound, bound)))

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input
        B = x.shape[1]
        if hx is None:
            z = x.new_zeros(self.num_layers, B, self.hidden_size)
            hx = (z, z)
        hs, cs = [], []
        for k in range(self.num_layers):
            h, c = hx[0][k], hx[1][k]
            outs = []
            w = [getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            for t in range(x.shape[0]):
                h, c = T.lstm_cell(x[t], (h, c), *w)  # bug: not from scratch
                outs.append(h)
            x = T.stack(outs)
            hs.append(h)
            cs.append(c)
        out = x.transpose(0, 1) if self.batch_first else x
        return out, (T.stack(hs), T.stack(cs))
