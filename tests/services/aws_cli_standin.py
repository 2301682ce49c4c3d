"""A stand-in for the two AWS CLI commands services/influxdb/upload-loop.sh runs, through boto3 against moto's
server: `aws s3 cp --recursive [--only-show-errors] SRC DST` (a local directory to an s3:// prefix or back) and
`aws cloudwatch put-metric-data --namespace N --metric-name M --dimensions K=V --value X`.

The AWS CLI itself is not among the project's packages (its releases pin botocore exactly, against boto3's own
pin), so these two commands are played as the CLI does them: keys are the paths under the source directory put
under the destination prefix (and back); a prefix that holds nothing copies nothing and still exits 0 (which is why
upload-loop.sh looks for the manifest after a download); an AWS error exits 1 with one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def copy(source: str, destination: str) -> int:
    s3 = boto3.client("s3")
    if not source.startswith("s3://"):
        bucket, prefix = split(destination)
        root = Path(source)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(root).as_posix()}")
        return 0
    bucket, prefix = split(source)
    prefix = prefix.rstrip("/") + "/"
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    for key in keys:
        target = Path(destination) / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return 0


def put_metric(options: dict[str, str]) -> int:
    name, _, value = options["--dimensions"].partition("=")
    boto3.client("cloudwatch").put_metric_data(
        Namespace=options["--namespace"],
        MetricData=[
            {
                "MetricName": options["--metric-name"],
                "Dimensions": [{"Name": name, "Value": value}],
                "Value": float(options["--value"]),
            }
        ],
    )
    return 0


def main(argv: list[str]) -> int:
    words = [word for word in argv if word not in ("--recursive", "--only-show-errors")]
    try:
        if words[:2] == ["s3", "cp"] and len(words) == 4:
            return copy(words[2], words[3])
        if words[:2] == ["cloudwatch", "put-metric-data"]:
            return put_metric(dict(zip(words[2::2], words[3::2], strict=True)))
    except (ClientError, BotoCoreError, OSError) as error:
        print(f"aws: {error}", file=sys.stderr)
        return 1
    print(f"aws (stand-in): not a command it plays: {' '.join(argv)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
