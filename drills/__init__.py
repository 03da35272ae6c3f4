"""drill: doing a drill (render, grade, time) and the command line."""

__version__ = "0.1.0"
