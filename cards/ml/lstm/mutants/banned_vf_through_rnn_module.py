# expect: uses banned `torch._VF`
import torch.nn.modules.rnn
import torch
import torch.nn.functional as F
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        for k in range(num_layers):
            i = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.randn(4 * hidden_size, i) * 0.1))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.randn(4 * hidden_size, hidden_size) * 0.1))
            setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.zeros(4 * hidden_size)))
            setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.zeros(4 * hidden_size)))

    def forward(self, input, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input
        L, B, _ = x.shape
        if hx is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
            c0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        else:
            h0, c0 = hx
        hn, cn = [], []
        for k in range(self.num_layers):
            Wi, Wh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            bi, bh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
            h, c = h0[k], c0[k]
            outs = []
            for t in range(L):
                h, c = (torch.nn.modules.rnn._VF.lstm_cell)(x[t], (h, c), Wi, Wh, bi, bh)
                outs.append(h)
            x = torch.stack(outs)
            hn.append(h); cn.append(c)
        out = x.transpose(0, 1) if self.batch_first else x
        return out, (torch.stack(hn), torch.stack(cn))

