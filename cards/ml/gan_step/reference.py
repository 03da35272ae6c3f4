"""One GAN training step: a discriminator step, then a non-saturating generator step."""

import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)  # once: the D step uses it detached, the G step through the graph

    # D: push D(real) up and D(fake) down. softplus(-x) = -log(sigmoid(x)), stable for any x.
    opt_D.zero_grad()
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    loss_D.backward()  # fake is detached: G gets no gradient from D's loss
    opt_D.step()

    # G: non-saturating loss -log(sigmoid(D(fake))), scored by the D just updated. Its backward
    # also fills D's .grad, which the next D step zeroes.
    opt_G.zero_grad()
    loss_G = F.softplus(-D(fake)).mean()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
