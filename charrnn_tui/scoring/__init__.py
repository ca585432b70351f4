"""Nats per character on held-out text: the model's validation loss and the Kneser-Ney n-gram baseline."""
