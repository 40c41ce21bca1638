"""Sparse autoencoders in plain torch: the model and its files (``model``), training over a
dataset's activations (``training``), and the session's methods (``methods``)."""
