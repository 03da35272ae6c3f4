"""A loop over the kD*kH*kW kernel offsets: copy the input into a zero buffer, then add each
offset's strided slice times that tap of the filters (a matmul over channels)."""


def conv3d(input, weight, bias=None, stride=1, padding=0):
    s = [stride] * 3 if isinstance(stride, int) else list(stride)
    p = [padding] * 3 if isinstance(padding, int) else list(padding)
    n, c, d, h, w = input.shape
    o, _, kd, kh, kw = weight.shape
    buf = input.new_zeros(n, c, d + 2 * p[0], h + 2 * p[1], w + 2 * p[2])
    buf[:, :, p[0] : p[0] + d, p[1] : p[1] + h, p[2] : p[2] + w] = input
    out_size = [
        (size + 2 * pad - k) // st + 1
        for size, pad, k, st in zip((d, h, w), p, (kd, kh, kw), s)
    ]
    do, ho, wo = out_size
    out = input.new_zeros(n, do, ho, wo, o)
    for a in range(kd):
        for b in range(kh):
            for e in range(kw):
                sl = buf[
                    :,
                    :,
                    a : a + (do - 1) * s[0] + 1 : s[0],
                    b : b + (ho - 1) * s[1] + 1 : s[1],
                    e : e + (wo - 1) * s[2] + 1 : s[2],
                ]
                out = out + sl.permute(0, 2, 3, 4, 1) @ weight[:, :, a, b, e].t()
    out = out.permute(0, 4, 1, 2, 3)
    if bias is not None:
        out = out + bias.view(1, o, 1, 1, 1)
    return out
