# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch
from torch import nn


class RNN(nn.Module):
    """Elman RNN (tanh) that projects the whole input sequence at once with einsum,
    then only runs the recurrent part step by step."""

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size
            setattr(
                self,
                f"weight_ih_l{layer}",
                nn.Parameter(torch.empty(hidden_size, in_size).uniform_(-bound, bound)),
            )
            setattr(
                self,
                f"weight_hh_l{layer}",
                nn.Parameter(
                    torch.empty(hidden_size, hidden_size).uniform_(-bound, bound)
                ),
            )
            setattr(
                self,
                f"bias_ih_l{layer}",
                nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound)),
            )
            setattr(
                self,
                f"bias_hh_l{layer}",
                nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound)),
            )

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, *)
        T, B = x.shape[0], x.shape[1]
        if hx is None:
            hx = torch.zeros(
                self.num_layers, B, self.hidden_size, dtype=x.dtype, device=x.device
            )
        finals = []
        seq = x
        for layer in range(self.num_layers):
            w_ih = getattr(self, f"weight_ih_l{layer}")
            w_hh = getattr(self, f"weight_hh_l{layer}")
            b = getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")
            proj = torch.einsum("tbi,hi->tbh", seq, w_ih) + b
            h = hx[layer]
            outs = []
            for t in range(T):
                h = torch.tanh(proj[t] + torch.einsum("bj,hj->bh", h, w_hh))
                outs.append(h)
            seq = (
                torch.stack(outs, 0) if outs else proj.new_zeros(0, B, self.hidden_size)
            )
            finals.append(h)
        h_n = torch.stack(finals, 0)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, h_n
