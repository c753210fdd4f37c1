"""The coolpilot release, in the lowest layer so every package (and the CLI) reads one number."""

__version__ = "0.1.0"
