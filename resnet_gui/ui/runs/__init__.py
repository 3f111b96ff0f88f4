"""The Runs tab: the runs folder the app and the CLI share (list, open, compare, rename, trash)."""
