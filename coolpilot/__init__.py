"""coolpilot: AI cooling optimization for data centers.

The distribution's one top-level name. Its subpackages are the repository's root folders
(``coolpilot.envs`` is ``envs/``, likewise ``controller``, ``training``, ``evaluation``: links in
this folder), so nothing installed collides with other distributions. This module holds only the
version; the CLI is ``coolpilot.cli`` and its subcommands, which nothing else imports.
"""

__version__ = "0.1.0"
