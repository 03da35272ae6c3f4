# Written from the prompt by the card's author.
# Computes in float64 with einsum and casts back; weights registered via register_parameter.
import torch
from torch import nn


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        for k in range(num_layers):
            fan = input_size if k == 0 else hidden_size
            self.register_parameter(
                f"weight_ih_l{k}", nn.Parameter(torch.randn(hidden_size, fan) * 0.1)
            )
            self.register_parameter(
                f"weight_hh_l{k}",
                nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.1),
            )
            self.register_parameter(
                f"bias_ih_l{k}", nn.Parameter(torch.zeros(hidden_size))
            )
            self.register_parameter(
                f"bias_hh_l{k}", nn.Parameter(torch.zeros(hidden_size))
            )

    def forward(self, input, hx=None):
        assert input.dim() == 3
        x = input.double()
        if self.batch_first:
            x = x.permute(1, 0, 2)
        T, B, _ = x.shape
        if hx is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        else:
            h0 = hx.double()
        finals = []
        layer_in = x
        for k in range(self.num_layers):
            Wi = getattr(self, f"weight_ih_l{k}").double()
            Wh = getattr(self, f"weight_hh_l{k}").double()
            bi = getattr(self, f"bias_ih_l{k}").double()
            bh = getattr(self, f"bias_hh_l{k}").double()
            h = h0[k]
            steps = []
            for t in range(T):
                h = torch.tanh(
                    torch.einsum("bi,hi->bh", layer_in[t], Wi)
                    + bi
                    + torch.einsum("bj,hj->bh", h, Wh)
                    + bh
                )
                steps.append(h)
            layer_in = torch.stack(steps)
            finals.append(h)
        out = layer_in.permute(1, 0, 2) if self.batch_first else layer_in
        return out.to(input.dtype), torch.stack(finals).to(input.dtype)
