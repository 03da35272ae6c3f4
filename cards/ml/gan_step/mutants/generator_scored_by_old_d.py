# expect: G was scored by the discriminator from before its step
import torch.nn.functional as F


def gan_train_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    opt_D.zero_grad()
    opt_G.zero_grad()
    d_fake = D(fake)  # bug: one D(fake) for both steps, computed before D's update
    loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    loss_G = F.softplus(-d_fake).mean()
    loss_D.backward()
    opt_D.step()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()
