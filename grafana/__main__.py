"""`python -m grafana [--check]`: the review copies of what a deploy generates from the catalog, in one go: the
dashboards' JSON (`python -m grafana.build`) and the alert rules (`python -m grafana.alert_rules`)."""

import sys

from grafana import alert_rules, build

arguments = sys.argv[1:]
sys.exit(max(build.main(arguments), alert_rules.main(arguments)))
