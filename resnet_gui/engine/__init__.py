"""The shared engine: data, models, training, inference, checkpoints. No Qt in here (see docs/ENGINE_API.md)."""
