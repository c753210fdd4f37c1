"""coolpilot: AI cooling optimization for data centers."""

from envs.version import __version__

__all__ = ["__version__"]
