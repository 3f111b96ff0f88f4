from tests._fixtures import checkpoint, demo_dir, model, trained  # noqa: F401
