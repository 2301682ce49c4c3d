"""A rule the local rule runner cannot play faithfully is refused at start, naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from local_aws.cloudformation.template import DeployedTemplate
from local_aws.iot.sql import RuleSqlError
from local_aws.rule_runner import load_rules


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
