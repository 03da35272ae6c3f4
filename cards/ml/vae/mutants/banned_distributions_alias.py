# expect: uses banned `torch.distributions`
import torch
import torch.nn.functional as F
from torch import distributions as D


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(recon_logits, x, mu, logvar):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="none")
    recon = recon.reshape(B, -1).sum(1)
    # bug: not from scratch, torch.distributions computes the KL
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = D.kl_divergence(q, p).sum(1)
    return (recon + kl).mean()
