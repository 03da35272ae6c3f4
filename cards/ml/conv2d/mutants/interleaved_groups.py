# expect: interleaved channels
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = []
    for g in range(groups):
        xs = input[:, g::groups]  # bug: group g is channels g, g + groups, ...
        cols = F.unfold(xs, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
        wg = weight[g * (o // groups) : (g + 1) * (o // groups)].reshape(o // groups, -1)
        out.append(wg @ cols)
    out = torch.cat(out, 1).reshape(n, o, h_out, w_out)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
