"""charrnn-tui: train character-level recurrent language models in the terminal."""

import warnings

# torch warns on import when NumPy is absent; we never hand tensors to NumPy, so the warning is noise.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

__version__ = "0.1.0"
