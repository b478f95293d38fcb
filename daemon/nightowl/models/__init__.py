"""Neural networks, their checkpoints and the registry of trained models."""
