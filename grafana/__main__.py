"""`python -m grafana [--check]`: the review copies of what a deploy generates from the catalog, in one go: the
dashboards' JSON (`python -m grafana.build`) and the alert rules (`python -m grafana.alerting`)."""

import sys

from grafana import alerting, build

arguments = sys.argv[1:]
sys.exit(max(build.main(arguments), alerting.main(arguments)))
