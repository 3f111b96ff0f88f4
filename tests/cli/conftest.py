from tests._fixtures import checkpoint, demo_dir, trained  # noqa: F401
from tests._weights_server import server, torch_home  # noqa: E402, F401  (download tests: loopback server, $TORCH_HOME)
