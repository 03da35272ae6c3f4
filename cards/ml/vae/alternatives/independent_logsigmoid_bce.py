# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
import torch.nn.functional as F


def reparameterize(mu, logvar, eps):
    std = torch.exp(logvar / 2)
    return torch.addcmul(mu, std, eps)


def vae_loss(recon_logits, x, mu, logvar):
    """Per-sample summed BCE-with-logits (via log-sigmoid, stable for large |logits|)
    plus per-sample summed KL(q || N(0, I)), averaged over the batch."""
    B = recon_logits.shape[0]
    x = x.to(recon_logits.dtype)
    bce = -(x * F.logsigmoid(recon_logits) + (1 - x) * F.logsigmoid(-recon_logits))
    rec = bce.reshape(B, -1).sum(dim=1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).reshape(B, -1).sum(dim=1)
    return (rec + kl).mean()
