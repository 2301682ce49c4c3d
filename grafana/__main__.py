"""`python -m grafana` is `python -m grafana.build`."""

import sys

from grafana.build import main

sys.exit(main())
