# expect: BCE computed on sigmoid probabilities
import torch
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(recon_logits, x, mu, logvar):
    B = x.shape[0]
    # bug: probabilities first; sigmoid rounds to 1 and the log is clamped at -100
    recon = F.binary_cross_entropy(torch.sigmoid(recon_logits), x, reduction="none")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return (recon.reshape(B, -1).sum(1) + kl).mean()
