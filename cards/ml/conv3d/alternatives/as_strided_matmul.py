"""im2col by as_strided on a contiguous padded copy, then one matmul with the flattened filters."""

import torch.nn.functional as F


def conv3d(input, weight, bias=None, stride=1, padding=0):
    sd, sh, sw = (stride,) * 3 if isinstance(stride, int) else stride
    pd, ph, pw = (padding,) * 3 if isinstance(padding, int) else padding
    x = F.pad(input, [pw, pw, ph, ph, pd, pd]).contiguous()
    n, c, dp, hp, wp = x.shape
    o, _, kd, kh, kw = weight.shape
    do, ho, wo = (dp - kd) // sd + 1, (hp - kh) // sh + 1, (wp - kw) // sw + 1
    t = x.stride()
    cols = x.as_strided(
        (n, do, ho, wo, c, kd, kh, kw),
        (t[0], t[2] * sd, t[3] * sh, t[4] * sw, t[1], t[2], t[3], t[4]),
    ).reshape(n, do, ho, wo, c * kd * kh * kw)
    out = cols @ weight.reshape(o, -1).t()  # (n, do, ho, wo, o)
    if bias is not None:
        out = out + bias
    return out.permute(0, 4, 1, 2, 3)
