# expect: G stepped before D
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    # bug: the generator's step comes first, scored by the old D
    opt_G.zero_grad()
    loss_G = F.softplus(-D(fake)).mean()
    loss_G.backward()
    opt_G.step()
    opt_D.zero_grad()
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    loss_D.backward()
    opt_D.step()
    return loss_D.detach(), loss_G.detach()
