# expect: uses banned `torch.nn.init`
from torch.nn import init as I


def xavier_uniform_(tensor, gain=1.0, generator=None):
    return I.xavier_uniform_(tensor, gain=gain, generator=generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return I.kaiming_normal_(tensor, a=a, mode=mode, nonlinearity=nonlinearity, generator=generator)
