# expect: parameter names must be exactly nn.RNN's
import math

import torch
from torch import nn


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        bound = 1 / math.sqrt(hidden_size)
        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            # nn.RNN's names, so that its state dict loads with strict=True
            for name, shape in (
                (f"weight_ih_l{k}", (hidden_size, fan_in)),
                (f"weight_hh_l{k}", (hidden_size, hidden_size)),
                (f"bias_ih_l{k}", (hidden_size,)),
                (f"bias_hh_l{k}", (hidden_size,)),
            ):
                # bug: a ParameterDict renames everything ("params.weight_ih_l0")
                if "params" not in self._modules:
                    self.params = nn.ParameterDict()
                self.params[name] = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input  # (L, B, in)
        L, B = x.shape[0], x.shape[1]
        if hx is None:
            hx = x.new_zeros(self.num_layers, B, self.hidden_size)
        h_n = []
        for k in range(self.num_layers):
            w_ih, w_hh = (
                getattr(self, f"weight_ih_l{k}"),
                getattr(self, f"weight_hh_l{k}"),
            )
            b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
            xw = x @ w_ih.T + b  # the input projection of every step at once
            h, outs = hx[k], []
            for t in range(L):
                h = torch.tanh(xw[t] + h @ w_hh.T)
                outs.append(h)
            x = torch.stack(outs)  # this layer's outputs feed the next layer
            h_n.append(h)
        output = x.transpose(0, 1) if self.batch_first else x
        # h_n is (num_layers, B, H) even when batch_first
        return output, torch.stack(h_n)


def _get(self, name):
    params = self._modules.get("params")
    if params is not None and name in params:
        return params[name]
    return nn.Module.__getattr__(self, name)


RNN.__getattr__ = _get
