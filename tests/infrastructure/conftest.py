"""The synthesized templates come from tests/conftest.py (`stacks`, `templates`: built once per session)."""

from __future__ import annotations

import pytest

from reach.endpoints import Endpoints


@pytest.fixture
def endpoint(endpoints: Endpoints, aws_env: dict[str, str], moto_reset: None) -> str:
    """moto's server, emptied, with the process's AWS settings pointing at it (the AWS cloud cannot run here)."""
    return endpoints.aws.endpoint_url
