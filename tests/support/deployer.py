"""The deploy tool as the tests drive it: against moto's server, asking nothing, printing to nowhere."""

from __future__ import annotations

import io

from rich.console import Console

from infrastructure.deploy import Deployer


def deployer(endpoint: str, environment: str) -> Deployer:
    return Deployer(
        environment=environment, endpoint_url=endpoint, assume_yes=True, console=Console(file=io.StringIO())
    )
