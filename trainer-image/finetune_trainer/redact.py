"""Strip credentials from text before it leaves the process (termination message, logs).

S3 and HTTP errors can quote a presigned URL, an ``Authorization`` header or the request's
query: access key ids, signatures and session tokens. The trainer never copies such text on
purpose (``storage.py`` reports only error codes), and this is the net under that rule: what
it misses could be read by anyone who can ``kubectl get`` the job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
"""Environment variables whose values never appear in output, whatever their shape."""

_PATTERNS = (
    # A URL's query (presigned URLs carry X-Amz-Credential, X-Amz-Signature, tokens).
    re.compile(r"(?<=[a-zA-Z0-9/._~-])\?[^\s'\"<>]*"),
    # Signing fields as headers or parameters, quoted or not.
    re.compile(
        r"(?i)\b(x-amz-(?:signature|credential|security-token)|signature|credential|"
        r"awsaccesskeyid|authorization|sessiontoken|security-token)\b(\s*[=:]\s*)"
        r"(?:aws4-hmac-sha256\s+)?[^\s,;'\"&]+"
    ),
    # AWS access key ids (AKIA..., ASIA... for temporary ones).
    re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    # 40 characters of base64 alone: the shape of a secret access key.
    re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
)


def secrets_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(v for k in SECRET_ENV if len(v := env.get(k, "")) >= 4)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """text with every known secret and anything shaped like a credential replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(f"?{REDACTED}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    for pattern in _PATTERNS[2:]:
        text = pattern.sub(REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output (message and traceback alike) passes through ``redact``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), secrets_from_env(os.environ))
