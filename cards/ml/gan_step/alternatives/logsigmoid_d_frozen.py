"""The losses written with F.logsigmoid (-logsigmoid(x) = softplus(-x)), D's parameters frozen
with requires_grad_(False) during G's step so that G's backward leaves D's .grad alone."""

import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)

    opt_D.zero_grad()
    loss_D = -F.logsigmoid(D(real)).mean() - F.logsigmoid(-D(fake.detach())).mean()
    loss_D.backward()
    opt_D.step()

    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        opt_G.zero_grad()
        loss_G = -F.logsigmoid(D(fake)).mean()
        loss_G.backward()
        opt_G.step()
    finally:
        for p, f in zip(D.parameters(), flags):
            p.requires_grad_(f)
    return loss_D.detach(), loss_G.detach()
