# Written from the prompt by the card's author.
# Gates via view(B, 4, H) and unbind; computed in float64, cast back to the input dtype.
import torch
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        for k in range(num_layers):
            fan = input_size if k == 0 else hidden_size
            self.register_parameter(
                f"weight_ih_l{k}", nn.Parameter(torch.randn(4 * hidden_size, fan) * 0.1)
            )
            self.register_parameter(
                f"weight_hh_l{k}",
                nn.Parameter(torch.randn(4 * hidden_size, hidden_size) * 0.1),
            )
            self.register_parameter(
                f"bias_ih_l{k}", nn.Parameter(torch.zeros(4 * hidden_size))
            )
            self.register_parameter(
                f"bias_hh_l{k}", nn.Parameter(torch.zeros(4 * hidden_size))
            )

    def forward(self, input, hx=None):
        x = input.double()
        if self.batch_first:
            x = x.permute(1, 0, 2)
        T, B, _ = x.shape
        Hd = self.hidden_size
        if hx is None:
            h0 = x.new_zeros(self.num_layers, B, Hd)
            c0 = x.new_zeros(self.num_layers, B, Hd)
        else:
            h0, c0 = hx[0].double(), hx[1].double()
        hn, cn = [], []
        seq = x
        for k in range(self.num_layers):
            Wi = getattr(self, f"weight_ih_l{k}").double()
            Wh = getattr(self, f"weight_hh_l{k}").double()
            b = (
                getattr(self, f"bias_ih_l{k}").double()
                + getattr(self, f"bias_hh_l{k}").double()
            )
            h, c = h0[k], c0[k]
            ys = []
            for t in range(T):
                gates = torch.matmul(seq[t], Wi.t()) + torch.matmul(h, Wh.t()) + b
                gi, gf, gg, go = gates.view(B, 4, Hd).unbind(1)
                c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gg)
                h = torch.sigmoid(go) * torch.tanh(c)
                ys.append(h)
            seq = torch.stack(ys)
            hn.append(h)
            cn.append(c)
        out = seq.permute(1, 0, 2) if self.batch_first else seq
        dt = input.dtype
        return out.to(dt), (torch.stack(hn).to(dt), torch.stack(cn).to(dt))
