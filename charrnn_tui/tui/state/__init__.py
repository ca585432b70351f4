"""The app's Textual-free state: the training session, the baseline cache, the overfitting advice."""
