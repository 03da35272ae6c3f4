"""drill: doing a drill (render, grade, time) and the command line."""

__version__ = "0.1.0"


def cli_path() -> str:
    """The click CLI's source file (its mtime keys the cached root help)."""
    import os

    return os.path.join(os.path.dirname(__file__), "cli.py")
