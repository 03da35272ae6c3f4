# expect: BCE computed as log(sigmoid(logits))
import torch


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(recon_logits, x, mu, logvar):
    B = x.shape[0]
    p = torch.sigmoid(recon_logits)
    # bug: log of a probability that rounds to 0 or 1 gives -inf
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return (bce.reshape(B, -1).sum(1) + kl).mean()
