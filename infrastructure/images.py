"""Container image references: `repository[:tag][@sha256:<digest>]`, as a task.yaml or `--param Image=` gives them.

A digest pins the image's bytes (a tag can be moved to other bytes by whoever controls the repository); when a
reference carries one it must be a full SHA-256 (`@sha256:` and 64 hex digits), or the deploy refuses it. The
images are named by tag today: no registry could be reached from where they were last chosen to read a digest
(docs/deploying.md, "Images": how to pin one before a first deploy).
"""

from __future__ import annotations

import re

# Docker's reference grammar, as much of it as these images need (lower-case path, optional registry host).
REFERENCE = (
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_REFERENCE = re.compile(REFERENCE)


class ImageError(ValueError):
    """An image reference that is malformed, or carries a digest that is not a full SHA-256."""


def check(reference: str, where: str) -> str:
    """The reference as given, or ImageError saying what is wrong in one line."""
    if _REFERENCE.match(reference):
        return reference
    if "@" in reference:
        raise ImageError(
            f"{where}: {reference!r} has a digest that is not '@sha256:' and 64 lower-case hex digits: copy it "
            "from `docker buildx imagetools inspect <image>`"
        )
    raise ImageError(f"{where}: {reference!r} is not an image reference (repository[:tag][@sha256:<digest>])")


def pinned(reference: str) -> bool:
    return "@sha256:" in reference
