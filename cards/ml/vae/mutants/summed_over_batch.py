# expect: the loss was summed over the batch
import torch
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(recon_logits, x, mu, logvar):
    # bug: the PyTorch-examples form, a sum over the whole batch
    recon = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return recon + kl
