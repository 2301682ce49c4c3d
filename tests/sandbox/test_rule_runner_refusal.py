"""A rule the local rule runner cannot play faithfully is refused at start, naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.iot_sql import RuleSqlError
from sandbox.rule_runner import load_rules
from sandbox.template import DeployedTemplate


def test_an_unsupported_rule_is_refused_at_start_naming_it() -> None:
    template: dict[str, Any] = {
        "Resources": {
            "Rule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "RuleName": "demo_odd",
                    "TopicRulePayload": {
                        "Sql": "SELECT avg(pressure) AS p FROM '/pressure/data'",
                        "Actions": [],
                    },
                },
            }
        }
    }
    deployed = DeployedTemplate(template, {}, "us-east-1", "123456789012", "demo-ingest", {}, {})
    with pytest.raises(RuleSqlError, match=r"rule demo_odd: the function avg\(\) is not supported"):
        load_rules(deployed, {})
