"""`python -m inkdigit` runs the CLI."""

from inkdigit.cli import main

raise SystemExit(main())
