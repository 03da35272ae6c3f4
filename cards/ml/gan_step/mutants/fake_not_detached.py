# expect: D's loss reached G
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    opt_D.zero_grad()
    opt_G.zero_grad()
    # bug: fake not detached, and G's grads not zeroed again: D's loss pushes G too
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
    loss_D.backward(retain_graph=True)
    opt_D.step()
    loss_G = F.softplus(-D(fake)).mean()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
