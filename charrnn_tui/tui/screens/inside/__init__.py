"""The two views inside the model, surprise and cells, on one base screen."""
