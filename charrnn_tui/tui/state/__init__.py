"""The app's Textual-free state: the training session, the training panel's rows, the baseline cache the app owns, the
overfitting advice."""
