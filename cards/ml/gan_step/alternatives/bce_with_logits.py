# By the card's author (not written independently of the verifier): BCE-with-logits against ones / zeros targets (the
# same as the softplus forms), real and fake scored by D in one concatenated batch, logits
# flattened so that (B,) and (B, 1) are handled alike.
import torch
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    B = real.shape[0]
    opt_D.zero_grad()
    logits = D(torch.cat([real, fake.detach()])).reshape(-1)
    loss_D = F.binary_cross_entropy_with_logits(
        logits[:B], torch.ones_like(logits[:B])
    ) + F.binary_cross_entropy_with_logits(logits[B:], torch.zeros_like(logits[B:]))
    loss_D.backward()
    opt_D.step()

    opt_G.zero_grad()
    g_logits = D(fake).reshape(-1)
    loss_G = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
