# expect: uses banned `torch.nn.functional.conv2d`
from torch.nn import functional as G


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    # bug: not from scratch, torch's conv2d through an alias
    return G.conv2d(input, weight, bias, stride, padding, dilation, groups)
