"""Names shared by every stack, declared once: parameters, exports and the environment prefix.

A cross-stack reference is an `Export` constant of the stack that makes the value; the stack that uses it
calls `.imported()` on the same constant, so an import cannot drift from its export.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Export as CfnExport
from troposphere import ImportValue, Sub

ENVIRONMENT_PARAMETER = "EnvironmentName"
DEFAULT_ENVIRONMENT = "demo"
# IoT rule names allow only letters, digits and "_", and names built from the environment must stay short.
ENVIRONMENT_PATTERN = "^[a-z][a-z0-9]{1,15}$"


@dataclass(frozen=True)
class Export:
    """An output of `stack`, exported as `<EnvironmentName>-<stack>-<output>`."""

    stack: str
    output: str

    @property
    def template_name(self) -> str:
        return f"${{{ENVIRONMENT_PARAMETER}}}-{self.stack}-{self.output}"

    def name(self, environment: str) -> str:
        return f"{environment}-{self.stack}-{self.output}"

    def exported(self) -> CfnExport:
        return CfnExport(Sub(self.template_name))

    def imported(self) -> ImportValue:
        return ImportValue(Sub(self.template_name))


def stack_name(environment: str, stack: str) -> str:
    return f"{environment}-{stack}"
