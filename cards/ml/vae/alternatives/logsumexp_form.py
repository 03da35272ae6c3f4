# By the card's author (not written independently of the verifier): BCE with logits written out as
# max(l, 0) - l * x + log(1 + exp(-|l|)), the KL as 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2),
# both flattened per sample; sigma from sqrt(exp(logvar)).
import torch


def reparameterize(mu, logvar, eps):
    sigma = torch.sqrt(torch.exp(logvar))
    return mu + sigma * eps


def vae_loss(recon_logits, x, mu, logvar):
    n = x.size(0)
    l = recon_logits.reshape(n, -1)
    t = x.reshape(n, -1)
    bce = torch.clamp(l, min=0) - l * t + torch.log1p(torch.exp(-l.abs()))
    var = torch.exp(logvar)
    kl = 0.5 * (mu * mu + var - 1.0 - logvar)
    return bce.sum(dim=1).mean() + kl.reshape(n, -1).sum(dim=1).mean()
