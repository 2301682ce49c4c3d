"""A queue's URL from what a template names it by: a `Ref` to one of its own queues, an ARN, or a URL."""

from __future__ import annotations

from typing import Any

from local_aws.cloudformation.template import DeployedTemplate, ResourceRef


def queue_url_of_arn(sqs: Any, arn: str) -> str:
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])


def queue_url(deployed: DeployedTemplate, reference: Any, sqs: Any) -> str:
    if isinstance(reference, ResourceRef):
        return str(deployed.physical(ResourceRef(reference.logical_id)))
    if isinstance(reference, str) and reference.startswith("arn:aws:sqs:"):
        return queue_url_of_arn(sqs, reference)
    return str(reference)
