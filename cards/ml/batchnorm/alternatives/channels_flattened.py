"""Channels first, flattened: x as (C, N*H*W), sums by hand, the buffers updated from detached
statistics by assignment (copy_ keeps them registered buffers)."""

import torch
from torch import nn


class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0))

    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.transpose(0, 1).reshape(c, -1)
        if self.training:
            count = flat.shape[1]
            mu = flat.sum(1) / count
            sq = ((flat - mu[:, None]) ** 2).sum(1)
            var = sq / count
            m = self.momentum
            self.running_mean.copy_((1 - m) * self.running_mean + m * mu.detach())
            self.running_var.copy_(
                (1 - m) * self.running_var + m * sq.detach() / (count - 1)
            )
            self.num_batches_tracked.copy_(self.num_batches_tracked + 1)
        else:
            mu, var = self.running_mean, self.running_var
        y = (flat - mu[:, None]) / (var[:, None] + self.eps).sqrt()
        y = y * self.weight[:, None] + self.bias[:, None]
        return y.reshape(c, n, h, w).transpose(0, 1)
