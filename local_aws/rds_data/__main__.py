"""`python -m local_aws.rds_data`: the RDS Data API of one cluster, forwarding to MariaDB, until SIGTERM."""

from __future__ import annotations

import sys

from local_aws.rds_data.server import main

sys.exit(main())
