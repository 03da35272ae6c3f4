# expect: uses banned `torch.nn.functional.conv3d`
import torch.nn.functional as nnf


def conv3d(input, weight, bias=None, stride=1, padding=0):
    # bug: not from scratch, torch's conv3d through an alias
    return nnf.conv3d(input, weight, bias, stride, padding)
