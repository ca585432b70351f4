"""What a trained model shows a learner: per-character surprise and candidates, and interpretable cells."""
