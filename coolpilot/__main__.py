"""``python -m coolpilot``."""

from coolpilot.cli import main

raise SystemExit(main())
