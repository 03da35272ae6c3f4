# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
from torch import nn


class BatchNorm2d(nn.Module):
    """Statistics computed on a channel-major (C, N*H*W) view; the affine and the
    normalisation are folded into one per-channel scale and shift."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(self.num_features))
        self.bias = nn.Parameter(torch.zeros(self.num_features))
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_running_stats(self):
        self.running_mean.zero_()
        self.running_var.fill_(1)
        self.num_batches_tracked.zero_()

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"expected 4D input (got {x.dim()}D input)")
        C = self.num_features
        if x.shape[1] != C:
            raise ValueError("channel count does not match num_features")
        if self.training:
            flat = x.transpose(0, 1).reshape(C, -1)  # (C, N*H*W)
            n = flat.shape[1]
            if n <= 1:
                raise ValueError(
                    f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}"
                )
            mean = flat.mean(dim=1)
            var = ((flat - mean[:, None]) ** 2).mean(dim=1)  # biased, used to normalise
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked.item())
                else:
                    factor = self.momentum
                unbiased = var.detach() * (n / (n - 1))
                self.running_mean.mul_(1 - factor).add_(
                    mean.detach().to(self.running_mean.dtype), alpha=factor
                )
                self.running_var.mul_(1 - factor).add_(
                    unbiased.to(self.running_var.dtype), alpha=factor
                )
        else:
            mean = self.running_mean
            var = self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        out = x * scale.reshape(1, C, 1, 1) + shift.reshape(1, C, 1, 1)
        return out.to(x.dtype)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
