"""Text from a trained model, character by character with the state carried, and its settings."""
