# expect: the variance exp(logvar) was used as the standard deviation
import torch
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(logvar) * eps  # bug: exp(logvar) is the variance


def vae_loss(recon_logits, x, mu, logvar):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="none")
    recon = recon.reshape(B, -1).sum(1)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return (recon + kl).mean()
