"""coolpilot: AI cooling optimization for data centers."""

__version__ = "0.1.0"
