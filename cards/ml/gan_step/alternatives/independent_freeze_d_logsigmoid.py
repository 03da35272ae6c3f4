# Written from the contract alone, by a writer who had not read this card's verifier.
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    """Non-saturating GAN step written with -logsigmoid (= softplus(-x)); D is frozen
    (requires_grad off) while G is updated, then restored."""
    fake = G(z)

    # discriminator: -log s(D(real)) - log(1 - s(D(fake)))  ==  softplus(-D(real)) + softplus(D(fake))
    opt_D.zero_grad()
    logit_real = D(real).reshape(-1)
    logit_fake = D(fake.detach()).reshape(-1)
    loss_D = -F.logsigmoid(logit_real).mean() - F.logsigmoid(-logit_fake).mean()
    loss_D.backward()
    opt_D.step()

    # generator, scored by the updated D
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        opt_G.zero_grad()
        loss_G = -F.logsigmoid(D(fake).reshape(-1)).mean()
        loss_G.backward()
        opt_G.step()
    finally:
        for p, f in zip(D.parameters(), flags):
            p.requires_grad_(f)
    return loss_D.detach(), loss_G.detach()
