"""`python -m sandbox up|down|status`: the local services."""

from sandbox.cli import main

raise SystemExit(main())
