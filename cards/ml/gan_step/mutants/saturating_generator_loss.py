# expect: the generator used the saturating loss
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    opt_D.zero_grad()
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    loss_D.backward()
    opt_D.step()
    opt_G.zero_grad()
    loss_G = -F.softplus(D(fake)).mean()  # bug: minimises log(1 - D(G(z))), the saturating form
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
