"""The console page at `/` of the CloudFront distribution: `services/console/` uploaded to the edge stack's bucket."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

CONSOLE_FILES = Path(__file__).resolve().parent.parent / "services" / "console"


def publish_console(s3: Any, bucket: str, folder: Path = CONSOLE_FILES) -> list[str]:
    """Upload every file of the console folder; returns the keys written."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(folder).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type,
            CacheControl="no-cache",  # a new deploy shows at once, without a CloudFront invalidation
        )
        keys.append(key)
    return keys
