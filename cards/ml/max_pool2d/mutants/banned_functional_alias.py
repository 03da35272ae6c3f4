# expect: uses banned `torch.nn.functional.max_pool2d`
from torch.nn.functional import max_pool2d as pool


def max_pool2d(input, kernel_size, stride=None, padding=0):
    # bug: not from scratch, torch's max_pool2d under another name
    return pool(input, kernel_size, stride, padding)
