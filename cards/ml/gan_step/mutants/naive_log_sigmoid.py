# expect: underflow to -inf
import torch


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    opt_D.zero_grad()
    # bug: log of sigmoid directly, -inf once sigmoid rounds to 0 or 1
    loss_D = -torch.log(torch.sigmoid(D(real))).mean() - torch.log(
        1 - torch.sigmoid(D(fake.detach()))
    ).mean()
    loss_D.backward()
    opt_D.step()
    opt_G.zero_grad()
    loss_G = -torch.log(torch.sigmoid(D(fake))).mean()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
