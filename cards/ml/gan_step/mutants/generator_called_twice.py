# expect: G ran 2 times in one step
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    opt_D.zero_grad()
    with_grad_free = G(z).detach()
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(with_grad_free)).mean()
    loss_D.backward()
    opt_D.step()
    opt_G.zero_grad()
    loss_G = F.softplus(-D(G(z))).mean()  # bug: a second forward of G
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
