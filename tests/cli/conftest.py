from tests._fixtures import checkpoint, demo_dir, trained  # noqa: F401
