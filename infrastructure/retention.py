"""What a stack keeps when it is deleted or a resource replaced: the data, the key that reads them, the readings
not yet replayed and the audit logs. The deploy tool takes them back on the next create (infrastructure/reattach.py);
docs/deploying.md says what `destroy` leaves and what keeping it costs."""

from __future__ import annotations

from typing import TypeVar

from troposphere import AWSObject

Resource = TypeVar("Resource", bound=AWSObject)

# Both policies: DeletionPolicy alone still loses the resource when an update replaces it (cfn-lint W3011).
RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def retain(resource: Resource) -> Resource:
    """The resource, kept when its stack is deleted or an update replaces it."""
    resource.DeletionPolicy = RETAIN["DeletionPolicy"]
    resource.UpdateReplacePolicy = RETAIN["UpdateReplacePolicy"]
    return resource
