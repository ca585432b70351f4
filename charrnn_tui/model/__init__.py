"""The Char-RNN itself (torch): the network, its recurrent state, checkpoints and the bounds on what they may hold."""
