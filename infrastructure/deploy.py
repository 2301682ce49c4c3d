"""Deploys, diffs and destroys the stacks through CloudFormation change sets, on AWS or a local endpoint."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError
from rich.console import Console
from rich.prompt import Confirm
from rich.table import Table

from catalog import load_catalog
from infrastructure import artifacts, compat, influx_tls, reattach, service_files
from infrastructure.common import CODE_BUCKET_PARAMETER, CODE_KEY_PARAMETER
from infrastructure.console import publish_console
from infrastructure.names import ENVIRONMENT_PARAMETER, stack_name
from infrastructure.registry import StackDefinition, all_stacks, dependents, deploy_order
from infrastructure.stacks import edge, influxdb, network
from infrastructure.stacks import ingest as ingest_stack

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
DEPLOYED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed", "does not contain changes")
INGEST = "ingest"
EDGE = edge.NAME
GRAFANA = "grafana"
# CloudFormation takes a template of at most this many bytes inline (TemplateBody); a larger one through S3.
INLINE_TEMPLATE_LIMIT = 51_200
# The parameters of a stack of a function from the lambda/ zip.
FUNCTION_CODE_PARAMETERS = {CODE_BUCKET_PARAMETER, CODE_KEY_PARAMETER}


class DeployError(RuntimeError):
    """A deployment step failed; the message says what and what to do."""


@dataclass
class Deployer:
    environment: str
    endpoint_url: str | None = None
    region: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    assume_yes: bool = False
    console: Console = field(default_factory=Console)
    stacks: dict[str, StackDefinition] = field(default_factory=all_stacks)
    poll_seconds: float | None = None
    confirm: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        session = boto3.Session(region_name=self.region)
        if session.region_name is None:
            if not compat.is_local(self.endpoint_url):
                raise DeployError("no AWS region configured: set AWS_REGION or pass --region")
            session = boto3.Session(region_name="us-east-1")
        self.session = session
        self.cloudformation = self.client("cloudformation")
        self.local = compat.is_local(self.endpoint_url)
        if self.poll_seconds is None:
            self.poll_seconds = 0.2 if self.local else 3.0

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def stack_name(self, name: str) -> str:
        return stack_name(self.environment, name)

    # -- reading the deployed state -------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            stacks = self.cloudformation.describe_stacks(StackName=self.stack_name(name))["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        stack: dict[str, Any] | None = stacks[0] if stacks else None
        if stack is not None and stack["StackStatus"] == "DELETE_COMPLETE":
            return None
        return stack

    def outputs(self, name: str) -> dict[str, str]:
        stack = self.describe(name)
        if stack is None:
            raise DeployError(
                f"{self.stack_name(name)} is not deployed: python -m infrastructure deploy {name}"
            )
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def check_dependencies(self, definition: StackDefinition) -> None:
        for dependency in definition.dependencies():
            stack = self.describe(dependency)
            if stack is None or stack["StackStatus"] not in DEPLOYED:
                state = "is not deployed" if stack is None else f"is {stack['StackStatus']}"
                raise DeployError(
                    f"{self.stack_name(definition.name)} needs {self.stack_name(dependency)}, which {state}: "
                    f"deploy {dependency} first (python -m infrastructure deploy {dependency}, or deploy --all)"
                )

    # -- templates and parameters ---------------------------------------------------------------------------

    def prepare(
        self, definition: StackDefinition, existing: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The template to deploy and its parameters (on a local endpoint, the template as moto can take it)."""
        template: dict[str, Any] = json.loads(definition.build().to_json())
        parameters = self.parameters(definition, template, existing)
        if self.local:
            template = compat.local_template(template, parameter_values(template, parameters, existing))
        return template, parameters

    def parameters(
        self, definition: StackDefinition, template: dict[str, Any], existing: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Given values first; then, for a deployed stack, its previous values; else the template's defaults."""
        values = {ENVIRONMENT_PARAMETER: self.environment, **self.params}
        if set(template.get("Parameters", {})) >= FUNCTION_CODE_PARAMETERS:  # ingest and webhook
            values.update(self.function_code())
        if definition.name == GRAFANA:
            values.update(self.dashboards())
        if definition.name == EDGE:
            values = {**self.edge_lookups(), **values}  # a value given on the command line wins
        if influxdb.TLS_SECRET_PARAMETER in template.get("Parameters", {}):
            values.update(self.influx_tls())
        previous = {p["ParameterKey"] for p in (existing or {}).get("Parameters", [])}
        result = []
        for key in template.get("Parameters", {}):
            if key in values:
                result.append({"ParameterKey": key, "ParameterValue": values[key]})
            elif key in previous:
                result.append({"ParameterKey": key, "UsePreviousValue": True})
        return result

    @cached_property
    def account(self) -> str:
        """The account deploying (asked of STS once): the owner every artifacts-bucket call expects."""
        return self.pseudo_parameters["AWS::AccountId"]

    @cached_property
    def _artifacts_bucket(self) -> str:
        bucket = artifacts.artifacts_bucket_name(self.environment, self.account, self.session.region_name)
        artifacts.ensure_bucket(
            self.client("s3"), bucket, self.session.region_name, self.account, tls_only=not self.local
        )
        return bucket

    def artifacts_bucket(self) -> str:
        """The environment's artifacts bucket (function code, large templates), made when missing, checked
        once to be this account's (infrastructure/artifacts.py)."""
        return self._artifacts_bucket

    def store(self, key: str, data: bytes) -> str:
        """`data` under `key` in the artifacts bucket ("present", "stored" or "replaced"); says so when the key
        held other bytes."""
        bucket = self.artifacts_bucket()
        result = artifacts.put_once(self.client("s3"), bucket, self.account, key, data)
        if result == "replaced":
            self.console.print(
                f"[yellow]s3://{bucket}/{key} held other bytes than its name says: replaced with this deploy's "
                "(check who else writes to the bucket)[/]"
            )
        return result

    def function_code(self) -> dict[str, str]:
        artifact = artifacts.build_zip()
        self.store(artifact.key, artifact.data)
        self.console.print(f"function code: s3://{self.artifacts_bucket()}/{artifact.key}")
        return {CODE_BUCKET_PARAMETER: self.artifacts_bucket(), CODE_KEY_PARAMETER: artifact.key}

    def dashboards(self) -> dict[str, str]:
        """Stores the dashboards under a prefix named by their content hash; the grafana task copies them
        from there at start (infrastructure/stacks/grafana.py)."""
        files = service_files.dashboard_files()
        digest = hashlib.sha256(
            b"".join(n.encode() + b"\0" + d + b"\0" for n, d in files.items())
        ).hexdigest()
        bucket, prefix = self.artifacts_bucket(), f"grafana/dashboards/{digest[:20]}/"
        for name, data in files.items():
            self.store(prefix + name, data)
        self.console.print(f"dashboards: {len(files)} in s3://{bucket}/{prefix}")
        return {"ProvisioningBucket": bucket, "DashboardsPrefix": prefix}

    def influx_tls(self) -> dict[str, str]:
        """The environment's InfluxDB CA and server certificate in Secrets Manager, made when missing and renewed
        when expiring (infrastructure/influx_tls.py), as the influxdb stack's two TLS parameters."""
        key = self.outputs(network.NAME)[network.DATA_KEY_ARN.output]
        tls = influx_tls.ensure(self.client("secretsmanager"), self.environment, key)
        self.console.print(
            f"InfluxDB TLS: {influx_tls.host_name(self.environment)}'s certificate in {tls.tls_secret_arn}"
        )
        return {
            influxdb.TLS_SECRET_PARAMETER: tls.tls_secret_arn,
            influxdb.CA_CERTIFICATE_PARAMETER: tls.ca_certificate,
        }

    def template_source(self, name: str, template: dict[str, Any]) -> dict[str, str]:
        """`TemplateBody` when CloudFormation takes the template inline, else `TemplateURL` of a copy stored
        in the artifacts bucket under its content hash."""
        body = json.dumps(template).encode()
        if len(body) <= INLINE_TEMPLATE_LIMIT:
            return {"TemplateBody": body.decode()}
        bucket = self.artifacts_bucket()
        key = artifacts.content_key("templates", self.stack_name(name), body, ".json")
        self.store(key, body)
        self.console.print(f"template ({len(body)} bytes, above the inline limit): s3://{bucket}/{key}")
        return {"TemplateURL": f"https://{bucket}.s3.{self.session.region_name}.amazonaws.com/{key}"}

    def unchanged(
        self, name: str, template: dict[str, Any], parameters: list[dict[str, Any]], existing: dict[str, Any]
    ) -> bool:
        """The deployed template and parameter values are the ones this deploy would set."""
        deployed_body = self.cloudformation.get_template(StackName=self.stack_name(name))["TemplateBody"]
        deployed = json.loads(deployed_body) if isinstance(deployed_body, str) else dict(deployed_body)
        if deployed != template:
            return False
        current = {p["ParameterKey"]: p.get("ParameterValue") for p in existing.get("Parameters", [])}
        return all(
            p.get("UsePreviousValue") or current.get(p["ParameterKey"]) == p["ParameterValue"]
            for p in parameters
        )

    # -- change sets --------------------------------------------------------------------------------------

    def create_change_set(
        self,
        name: str,
        template: dict[str, Any],
        parameters: list[dict[str, Any]],
        change_type: str,
        **extra: Any,
    ) -> str | None:
        """The change set's name, or None when it would change nothing."""
        change_set = f"{change_type.lower()}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        stack = self.stack_name(name)
        self.cloudformation.create_change_set(
            StackName=stack,
            ChangeSetName=change_set,
            ChangeSetType=change_type,
            **self.template_source(name, template),
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "Environment", "Value": self.environment}],
            **extra,
        )
        try:
            self.cloudformation.get_waiter("change_set_create_complete").wait(
                StackName=stack,
                ChangeSetName=change_set,
                WaiterConfig={"Delay": max(1, int(self.poll_seconds or 1))},
            )
        except WaiterError as error:
            described = self.cloudformation.describe_change_set(StackName=stack, ChangeSetName=change_set)
            reason = described.get("StatusReason", str(error))
            if any(text in reason for text in NO_CHANGES):
                self.cloudformation.delete_change_set(StackName=stack, ChangeSetName=change_set)
                return None
            raise DeployError(f"the change set for {stack} failed: {reason}") from error
        return change_set

    def show_changes(self, name: str, change_set: str) -> int:
        described = self.cloudformation.describe_change_set(
            StackName=self.stack_name(name), ChangeSetName=change_set
        )
        table = Table(title=f"{self.stack_name(name)}: changes")
        for column in ("action", "resource", "type", "replacement"):
            table.add_column(column)
        colours = {"Add": "green", "Modify": "yellow", "Remove": "red"}
        changes = [c["ResourceChange"] for c in described.get("Changes", []) if "ResourceChange" in c]
        for change in changes:
            action = change.get("Action", "?")
            table.add_row(
                f"[{colours.get(action, 'white')}]{action}[/]",
                change.get("LogicalResourceId", ""),
                change.get("ResourceType", ""),
                str(change.get("Replacement", "")),
            )
        self.console.print(table)
        return len(changes)

    def create_instead(
        self, name: str, change_set: str, template: dict[str, Any], parameters: list[dict[str, Any]]
    ) -> None:
        """Local endpoint only: moto's execution of a CREATE change set makes the resources but no outputs or
        exports, so the reviewed change set is dropped and the same template created with CreateStack."""
        stack = self.stack_name(name)
        self.cloudformation.delete_change_set(StackName=stack, ChangeSetName=change_set)
        self.cloudformation.delete_stack(StackName=stack)
        self.cloudformation.create_stack(
            StackName=stack,
            **self.template_source(name, template),
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "Environment", "Value": self.environment}],
        )

    def update_instead(
        self, name: str, change_set: str, template: dict[str, Any], parameters: list[dict[str, Any]]
    ) -> None:
        """Local endpoint only: moto's execution of an UPDATE change set updates the resources but keeps the
        outputs and exports of the previous template (its ChangeSet.apply never rebuilds the stack's output map),
        so a switch to the queued path had no IngestQueueUrl and the sandbox did not see its ingest queue. The
        reviewed change set is dropped and the same template applied with UpdateStack, which rebuilds them.
        Its UpdateStack looks a kept value up only among the values given at creation (a KeyError for one that
        took its default), so kept values are given as values and defaulted ones left to their default."""
        stack = self.stack_name(name)
        existing = self.describe(name) or {}
        previous = {p["ParameterKey"]: p["ParameterValue"] for p in existing.get("Parameters", [])}
        explicit = [
            {"ParameterKey": p["ParameterKey"], "ParameterValue": previous[p["ParameterKey"]]}
            if p.get("UsePreviousValue")
            else p
            for p in parameters
            if not p.get("UsePreviousValue") or p["ParameterKey"] in previous
        ]
        self.cloudformation.delete_change_set(StackName=stack, ChangeSetName=change_set)
        self.cloudformation.update_stack(
            StackName=stack,
            **self.template_source(name, template),
            Parameters=explicit,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "Environment", "Value": self.environment}],
        )

    # -- what a deleted stack left behind ------------------------------------------------------------------

    @cached_property
    def pseudo_parameters(self) -> dict[str, str]:
        region = self.session.region_name or "us-east-1"
        partition = artifacts.partition(region)
        account = self.client("sts").get_caller_identity()["Account"]
        return {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": partition}

    def retained(
        self,
        name: str,
        template: dict[str, Any],
        parameters: list[dict[str, Any]],
        existing: dict[str, Any] | None,
    ) -> list[reattach.Found]:
        """The template's retained resources that a deleted stack left and this deploy takes back: on AWS when
        the stack is created (it imports them); locally on every deploy (moto keeps them out of the stack)."""
        if existing is not None and not self.local:
            return []
        skip: set[str] = set()
        if existing is not None:
            resources = self.cloudformation.describe_stack_resources(StackName=self.stack_name(name))
            # (moto lists the types it does not model without a logical id)
            skip = {r["LogicalResourceId"] for r in resources["StackResources"] if "LogicalResourceId" in r}
        if self.local:  # moto does not make these; the sandbox does, outside any stack
            skip |= {k for k, r in template["Resources"].items() if r["Type"] in compat.MOTO_SKIPPED_TYPES}
        values = {**parameter_values(template, parameters, existing), **self.pseudo_parameters}
        try:
            # moto cannot describe a key its CloudFormation made (infrastructure/compat.py): no state check there
            found = reattach.find(self.client, template, values, skip, check_key_state=not self.local)
        except reattach.ReattachError as error:
            raise DeployError(f"{self.stack_name(name)}: {error}") from error
        for item in found:
            self.console.print(
                f"{self.stack_name(name)}: takes back the retained {item.logical_id} ({item.resource_type} {item.ref})"
            )
        return found

    def import_retained(
        self,
        name: str,
        template: dict[str, Any],
        parameters: list[dict[str, Any]],
        found: list[reattach.Found],
    ) -> None:
        """Starts the stack with the retained resources it takes back (an IMPORT change set); its first update
        then adds the rest."""
        stack = self.stack_name(name)
        since = datetime.now(UTC).replace(microsecond=0)
        change_set = self.create_change_set(
            name,
            reattach.import_template(template, found),
            parameters,
            "IMPORT",
            ResourcesToImport=[item.to_import() for item in found],
        )
        if change_set is None:
            raise DeployError(f"{stack}: the import of its retained resources changed nothing")
        self.cloudformation.execute_change_set(StackName=stack, ChangeSetName=change_set)
        final = self.wait_for_stack(name, since)
        status = final["StackStatus"] if final else "DELETED"
        if status != "IMPORT_COMPLETE":
            reasons = self.failure_reasons(name, since)
            raise DeployError(
                f"{stack}: importing its retained resources ended {status}:\n  " + "\n  ".join(reasons)
            )

    def confirmed(self, question: str) -> bool:
        if self.assume_yes or not sys.stdin.isatty():
            return True
        if self.confirm is not None:
            return self.confirm(question)
        return Confirm.ask(question, console=self.console, default=False)

    def wait_for_stack(self, name: str, since: datetime) -> dict[str, Any] | None:
        """Prints the stack's events as they come until it is no longer in progress; its final description."""
        stack_id = self.stack_name(name)
        seen: set[str] = set()
        while True:
            stack = self.describe(name)
            try:
                events = self.cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
            except ClientError:
                events = []
            for event in reversed(events):
                if event["EventId"] in seen or event["Timestamp"] < since:
                    continue
                seen.add(event["EventId"])
                status = event.get("ResourceStatus", "")
                colour = "red" if "FAILED" in status else "green" if status.endswith("COMPLETE") else "cyan"
                reason = event.get("ResourceStatusReason") or ""
                self.console.print(
                    f"  {event['Timestamp']:%H:%M:%S} [{colour}]{status:<28}[/] "
                    f"{event.get('LogicalResourceId', '')} {reason}"
                )
            if stack is None or not stack["StackStatus"].endswith("IN_PROGRESS"):
                return stack
            time.sleep(self.poll_seconds or 1)

    def failure_reasons(self, name: str, since: datetime) -> list[str]:
        try:
            events = self.cloudformation.describe_stack_events(StackName=self.stack_name(name))["StackEvents"]
        except ClientError:
            return []
        return [
            f"{e.get('LogicalResourceId')} ({e.get('ResourceType')}): {e.get('ResourceStatusReason', 'no reason given')}"
            for e in reversed(events)
            if "FAILED" in e.get("ResourceStatus", "") and e["Timestamp"] >= since
        ]

    # -- commands -----------------------------------------------------------------------------------------

    def deploy(self, name: str) -> str:
        """Deploys one stack; returns "deployed", "no changes" or "cancelled"."""
        definition = self.definition(name)
        stack = self.stack_name(name)
        self.check_dependencies(definition)
        existing = self.describe(name)
        if existing is not None and existing["StackStatus"] == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"{stack} failed its creation and must be deleted first: "
                f"python -m infrastructure destroy {name}"
            )
        if existing is not None and existing["StackStatus"].endswith("IN_PROGRESS"):
            raise DeployError(f"{stack} is busy ({existing['StackStatus']}); try again when it has finished")
        template, parameters = self.prepare(definition, existing)
        if name == INGEST and not self.local:
            self.check_topics_apart(template, parameters, existing)
        found = self.retained(name, template, parameters, existing)
        if found and self.local:
            template = compat.attach_retained(template, found)
        elif found:
            if not self.confirmed(f"Import these {len(found)} retained resources into {stack}?"):
                self.console.print(f"{stack}: cancelled, nothing changed")
                return "cancelled"
            self.import_retained(name, template, parameters, found)
            existing = self.describe(name)
        if existing is not None and self.unchanged(name, template, parameters, existing):
            self.console.print(f"{stack}: no changes")
            if self.local:
                self.check_nothing_lost(name)  # an earlier update's loss
                self.put_local_iot_policies(name)
            self.after_deploy(name)  # the console page may have changed without the template
            return "no changes"
        since = datetime.now(UTC).replace(microsecond=0)
        change_set = self.create_change_set(name, template, parameters, "UPDATE" if existing else "CREATE")
        if change_set is None:
            self.console.print(f"{stack}: no changes")
            return "no changes"
        self.show_changes(name, change_set)
        if not self.confirmed(f"Deploy these changes to {stack}?"):
            self.cloudformation.delete_change_set(StackName=stack, ChangeSetName=change_set)
            self.console.print(f"{stack}: cancelled, nothing changed")
            return "cancelled"
        if self.local and existing is None:
            self.create_instead(name, change_set, template, parameters)
        elif self.local:
            self.update_instead(name, change_set, template, parameters)
        else:
            self.cloudformation.execute_change_set(StackName=stack, ChangeSetName=change_set)
        final = self.wait_for_stack(name, since)
        status = final["StackStatus"] if final else "DELETED"
        if status not in DEPLOYED or status == "UPDATE_ROLLBACK_COMPLETE":
            reasons = self.failure_reasons(name, since) or [
                final.get("StackStatusReason", "") if final else ""
            ]
            raise DeployError(f"{stack} ended {status}:\n  " + "\n  ".join(r for r in reasons if r))
        self.console.print(f"[green]{stack}: {status}[/]")
        if self.local and existing is not None:
            self.check_nothing_lost(name)
        if self.local:
            self.put_local_iot_policies(name)
        self.after_deploy(name)
        return "deployed"

    def check_nothing_lost(self, name: str) -> None:
        """Local endpoint only: a stack that moto lists resources of that it no longer has (an update brought back
        a resource an earlier update removed: infrastructure/compat.py, `lost_resources`) cannot be put right in
        place; moto keeps its state in memory only, so a restart deploys every stack afresh."""
        lost = compat.lost_resources(self.cloudformation, self.client, self.stack_name(name))
        if lost:
            raise DeployError(
                f"{self.stack_name(name)}: {compat.MOTO_LOST} {', '.join(lost)} in an update (it does not "
                "make again what an earlier update removed): run 'make down', then 'make demo' (or 'python -m "
                "sandbox up'), which deploys the stacks afresh and keeps every reading the broker, the event store "
                "and the queues hold"
            )

    def after_deploy(self, name: str) -> None:
        """What a stack needs besides CloudFormation: the edge stack's console page, and, once CloudFront has made
        its VPC-origin group (with the first VPC origin), the load balancer's rule admitting it."""
        if name != EDGE:
            return
        outputs = self.outputs(name)
        bucket = outputs[edge.CONSOLE_BUCKET.output]
        keys = publish_console(self.client("s3"), bucket)
        self.console.print(f"console page: {', '.join(keys)} in s3://{bucket}")
        group = self.edge_lookups().get(edge.VPC_ORIGIN_GROUP_PARAMETER)
        deployed = {
            p["ParameterKey"]: p.get("ParameterValue")
            for p in (self.describe(name) or {}).get("Parameters", [])
        }
        if (
            group
            and deployed.get(edge.VPC_ORIGIN_GROUP_PARAMETER) != group
            and edge.VPC_ORIGIN_GROUP_PARAMETER not in self.params
        ):
            self.console.print(
                f"{self.stack_name(name)}: CloudFront made {edge.VPC_ORIGIN_GROUP_NAME} ({group}): admitting it"
            )
            self.deploy(name)

    def local_iot_policies(self, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The stack's full template and the values it was deployed with (parameters and pseudo parameters)."""
        template: dict[str, Any] = json.loads(self.definition(name).build().to_json())
        stack = self.describe(name) or {}
        deployed = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        values = {
            key: str(spec["Default"])
            for key, spec in template.get("Parameters", {}).items()
            if "Default" in spec
        }
        return template, {**values, **deployed, **self.pseudo_parameters}

    def put_local_iot_policies(self, name: str) -> None:
        """On a local endpoint the deploy tool makes the stack's IoT policies (infrastructure/compat.py says why);
        a kind's policy goes when the kind does."""
        template, values = self.local_iot_policies(name)
        iot = self.client("iot")
        put = compat.put_iot_policies(iot, template, values)
        if name != INGEST:
            return
        names = [
            p["policyName"] for p in iot.get_paginator("list_policies").paginate() for p in p["policies"]
        ]
        stale = [
            n
            for n in names
            if n.startswith(f"{self.environment}-")
            and n.endswith(ingest_stack.DEVICE_POLICY_SUFFIX)
            and n not in put
        ]
        for line in compat.delete_iot_policies(iot, stale):
            self.console.print(f"[yellow]{self.stack_name(name)}: kept {line}[/]")

    def edge_lookups(self) -> dict[str, str]:
        """The edge stack's parameters the account decides: this region's CloudFront origin-facing prefix list,
        and CloudFront's VPC-origin security group in the environment's VPC once it exists. On a local endpoint
        (moto has neither) nothing: the template's defaults stand."""
        if self.local:
            return {}
        found: dict[str, str] = {}
        ec2 = self.client("ec2")
        lists = ec2.describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [edge.PREFIX_LIST_NAME]}]
        )["PrefixLists"]
        owned_by_aws = [p["PrefixListId"] for p in lists if p.get("OwnerId") == "AWS"]  # not a look-alike
        if owned_by_aws:
            found[edge.PREFIX_LIST_PARAMETER] = owned_by_aws[0]
        network_stack = self.describe(network.NAME)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in (network_stack or {}).get("Outputs", [])}
        if network.VPC_ID.output in outputs:
            groups = ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [outputs[network.VPC_ID.output]]},
                    {"Name": "group-name", "Values": [edge.VPC_ORIGIN_GROUP_NAME]},
                ]
            )["SecurityGroups"]
            if groups:
                found[edge.VPC_ORIGIN_GROUP_PARAMETER] = groups[0]["GroupId"]
        return found

    def check_topics_apart(
        self, template: dict[str, Any], parameters: list[dict[str, Any]], existing: dict[str, Any] | None
    ) -> None:
        """Environments in one account and region are kept apart by their topics (infrastructure/stacks/ingest.py):
        an ingest stack whose rules would read a topic another environment's rules read is refused, or one
        environment's devices would feed the other's pipeline."""
        values = parameter_values(template, parameters, existing)
        kinds = [
            key
            for key in template.get("Parameters", {})
            if key in ingest_stack.topic_parameters(load_catalog())
        ]
        mine = {values[key]: key for key in kinds if key in values}
        paginator = self.cloudformation.get_paginator("describe_stacks")
        for page in paginator.paginate():
            for stack in page["Stacks"]:
                other = stack["StackName"]
                if not other.endswith(f"-{INGEST}") or other == self.stack_name(INGEST):
                    continue
                if stack["StackStatus"] == "DELETE_COMPLETE":
                    continue
                theirs = {
                    p.get("ParameterValue")
                    for p in stack.get("Parameters", [])
                    if p["ParameterKey"].endswith("Topic")
                }
                shared = sorted(set(mine) & theirs)
                if shared:
                    given = " ".join(
                        f"--param {mine[t]}=/{self.environment}{t if t.startswith('/') else '/' + t}"
                        for t in shared
                    )
                    raise DeployError(
                        f"{self.stack_name(INGEST)} would read {', '.join(shared)}, which {other}'s rules read too: "
                        f"the devices of one environment would feed the other's; give this environment its own "
                        f"topics ({given})"
                    )

    def deploy_all(self) -> dict[str, str]:
        """Every stack in dependency order, except those deployed only when named (said so, with why)."""
        # The function's zip and the dashboards go to the artifacts bucket: a bucket this account does not
        # own stops the deploy before any stack changes.
        self.artifacts_bucket()
        results = {}
        for name in deploy_order(self.stacks):
            left_out = self.stacks[name].left_out_now()
            if left_out:
                self.console.print(f"[yellow]{self.stack_name(name)}: left out: {left_out}[/]")
                results[name] = "left out"
            else:
                results[name] = self.deploy(name)
        return results

    def diff(self, name: str) -> int:
        """Shows what a deploy would change; the number of resource changes."""
        definition = self.definition(name)
        existing = self.describe(name)
        template, parameters = self.prepare(definition, existing)
        if self.local:  # as deploy would name them (on AWS a create imports them first)
            template = compat.attach_retained(template, self.retained(name, template, parameters, existing))
        if existing is not None and self.unchanged(name, template, parameters, existing):
            self.console.print(f"{self.stack_name(name)}: no changes")
            return 0
        change_set = self.create_change_set(name, template, parameters, "UPDATE" if existing else "CREATE")
        if change_set is None:
            self.console.print(f"{self.stack_name(name)}: no changes")
            return 0
        count = self.show_changes(name, change_set)
        self.cloudformation.delete_change_set(StackName=self.stack_name(name), ChangeSetName=change_set)
        if existing is None:  # a CREATE change set leaves an empty REVIEW_IN_PROGRESS stack behind
            self.cloudformation.delete_stack(StackName=self.stack_name(name))
        return count

    def destroy(self, name: str) -> str:
        self.definition(name)
        stack = self.stack_name(name)
        if self.describe(name) is None:
            self.console.print(f"{stack}: not deployed")
            return "absent"
        deployed_dependents = [
            other for other in dependents(self.stacks, name) if self.describe(other) is not None
        ]
        if deployed_dependents:
            names = ", ".join(self.stack_name(other) for other in deployed_dependents)
            raise DeployError(f"{stack} is used by {names}: destroy those first (or destroy --all)")
        if not self.confirmed(f"Delete {stack} and its resources?"):
            self.console.print(f"{stack}: kept")
            return "cancelled"
        since = datetime.now(UTC).replace(microsecond=0)
        if self.local:
            compat.release_route_tables(self.cloudformation, self.client("ec2"), stack)
            template, values = self.local_iot_policies(name)
            policies = sorted(compat.iot_policies(template, values))
            for line in compat.delete_iot_policies(self.client("iot"), policies):
                self.console.print(f"[yellow]{stack}: kept {line}[/]")
        try:
            self.cloudformation.delete_stack(StackName=stack)
        except ClientError as error:
            # moto deletes the stack but may refuse the VPC (it keeps the ENIs of the instances it terminated).
            if not (self.local and "DependencyViolation" in str(error) and self.describe(name) is None):
                raise
            self.console.print(
                f"[yellow]{stack}: deleted; the local endpoint kept some resources: {error}[/]"
            )
            return "deleted"
        final = self.wait_for_stack(name, since)
        if final is not None and final["StackStatus"] != "DELETE_COMPLETE":
            reasons = self.failure_reasons(name, since)
            raise DeployError(f"{stack} ended {final['StackStatus']}:\n  " + "\n  ".join(reasons))
        self.console.print(f"[green]{stack}: deleted[/]")
        return "deleted"

    def destroy_all(self) -> dict[str, str]:
        return {name: self.destroy(name) for name in reversed(deploy_order(self.stacks))}

    def definition(self, name: str) -> StackDefinition:
        if name not in self.stacks:
            raise DeployError(
                f"no stack named {name!r}; the stacks are: {', '.join(deploy_order(self.stacks))}"
            )
        return self.stacks[name]


def parameter_values(
    template: dict[str, Any], parameters: list[dict[str, Any]], existing: dict[str, Any] | None
) -> dict[str, str]:
    """The value each template parameter will have: given, else the deployed stack's, else the default."""
    values = {
        key: str(spec["Default"]) for key, spec in template.get("Parameters", {}).items() if "Default" in spec
    }
    previous = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in (existing or {}).get("Parameters", [])
    }
    for parameter in parameters:
        key = parameter["ParameterKey"]
        values[key] = (
            previous.get(key, "") if parameter.get("UsePreviousValue") else parameter["ParameterValue"]
        )
    return values


def synth(out_dir: Path, stacks: dict[str, StackDefinition] | None = None) -> dict[str, Path]:
    """Writes every stack's template as `<out_dir>/<stack>.json`."""
    stacks = stacks or all_stacks()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in deploy_order(stacks):
        path = out_dir / f"{name}.json"
        path.write_text(stacks[name].build().to_json(indent=2) + "\n")
        written[name] = path
    return written
