"""The reading kinds the deployed function carries, taken from its zip in the (local) artifacts bucket, so the
function the rule runner plays in process knows exactly the kinds that were deployed."""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from ingest_to_influxdb import kinds

from local_aws.cloudformation.template import DeployedTemplate, TemplateError
from reach.endpoints import environment_set

KINDS_IN_ZIP = kinds.IN_ZIP  # where the deploy tool packs them and the function reads them


def packed_kinds(deployed: DeployedTemplate, logical_id: str) -> str:
    code = deployed.resolve(deployed.resources[logical_id]["Properties"]["Code"])
    try:
        body = boto3.client("s3").get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return archive.read(KINDS_IN_ZIP).decode()
    except (ClientError, KeyError, zipfile.BadZipFile) as error:
        raise TemplateError(f"the zip of {logical_id} holds no {KINDS_IN_ZIP}: {error}") from None


def write_packed_kinds(deployed: DeployedTemplate, root: Path, name: str = kinds.PACKAGED_NAME) -> Path:
    """The deployed function's kinds as a file under the sandbox folder (for DEVICE_KINDS_FILE); each process
    that plays a function writes its own `name`."""
    # The stacks' functions share one zip (infrastructure/artifacts.py): any of them holds the kinds.
    logical_id = min(deployed.of_type("AWS::Lambda::Function"))
    path = root / name
    path.write_text(packed_kinds(deployed, logical_id))
    return path


@contextlib.contextmanager
def kinds_from(path: Path) -> Iterator[None]:
    """The function, run in this process, reads its kinds from the packed file `path` (DEVICE_KINDS_FILE) for the
    block, and as before after it."""
    with environment_set({kinds.FILE_VARIABLE: str(path)}):
        kinds.reset()
        try:
            yield
        finally:
            kinds.reset()  # read again at the next use, from the file named then
