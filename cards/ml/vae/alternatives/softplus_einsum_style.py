"""BCE as softplus(l) - x * l, the per-sample sums with flatten(1), the batch mean as a sum
divided by B; sigma as exp(logvar).sqrt() is avoided in favour of (0.5 * logvar).exp()."""

import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    return eps.mul((0.5 * logvar).exp()).add(mu)


def vae_loss(recon_logits, x, mu, logvar):
    B = recon_logits.shape[0]
    rec = (F.softplus(recon_logits) - x * recon_logits).flatten(1).sum(1)
    kl = (mu.pow(2) + logvar.exp() - logvar - 1).flatten(1).sum(1) / 2
    return (rec + kl).sum() / B
