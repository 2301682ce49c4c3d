"""The local broker's password file: who may use its plain listener, as mosquitto_passwd would write it.

The passwords are hashed here (PBKDF2-SHA512, mosquitto's `$7$` format) rather than given to mosquitto_passwd,
so that no password ever appears on a command line.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own default


def password_line(username: str, password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"{username}:$7${PBKDF2_ITERATIONS}${encoded[0]}${encoded[1]}\n"


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """Mode 0600: mosquitto runs as the sandbox's own user (sandbox/manager/services.py), so only that user reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(password_line(name, password) for name, password in sorted(users.items())))
    tmp.replace(path)
