# expect: uses banned `torch.conv2d`
import torch
import torch.nn.functional as F


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def conv3d(input, weight, bias=None, stride=1, padding=0):
    sd, sh, sw = _triple(stride)
    pd, ph, pw = _triple(padding)
    kd = weight.shape[2]
    x = F.pad(input, (0, 0, 0, 0, pd, pd))
    d_out = (x.shape[2] - kd) // sd + 1
    outs = []
    for i in range(d_out):
        acc = 0
        for a in range(kd):
            # bug: a 3-D conv as a sum of torch's 2-D convs, which is banned too
            acc = acc + torch.conv2d(x[:, :, i * sd + a], weight[:, :, a], None, (sh, sw), (ph, pw))
        outs.append(acc)
    out = torch.stack(outs, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out
