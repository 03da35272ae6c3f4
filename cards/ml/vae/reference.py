"""The VAE's reparameterisation trick and loss (Kingma & Welling, 2014), with a Bernoulli decoder
given by logits and a diagonal Gaussian posterior against a standard normal prior."""

import torch
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    # z = mu + sigma * eps with sigma = exp(logvar / 2): the randomness is in eps, so gradients
    # flow to mu and logvar.
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(recon_logits, x, mu, logvar):
    B = x.shape[0]
    # BCE from logits (log-sum-exp inside), summed over each sample's elements: stays finite
    # where sigmoid(logits) rounds to exactly 0 or 1. This per-sample reconstruction error is
    # also an autoencoder's anomaly score.
    recon = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="none")
    recon = recon.reshape(B, -1).sum(dim=1)  # (B,)
    # KL(N(mu, sigma^2) || N(0, 1)), summed over the latent dims.
    # (B,)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).reshape(B, -1).sum(dim=1)
    return (recon + kl).mean()  # the batch mean of the per-sample totals
