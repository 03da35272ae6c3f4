# expect: uses banned `torch.nn.modules.rnn.RNN`
from torch.nn.modules import rnn as R


class RNN(R.RNN):  # bug: not from scratch, nn.RNN under another name
    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=batch_first)
