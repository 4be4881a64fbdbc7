"""Reading a job's output from S3, with credentials found as boto3 finds them."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from finetune_cli.errors import CliError, CredentialsMissing, NotFound


def read_json(uri: str, *, endpoint: str | None, region: str | None) -> Any:
    """The JSON object at ``s3://bucket/key``. Credentials from the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ...); the endpoint from
    the argument, else ``AWS_ENDPOINT_URL`` as boto3 reads it."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    session = boto3.session.Session(region_name=region or None)
    if session.get_credentials() is None:
        raise CredentialsMissing(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
    s3 = session.client("s3", endpoint_url=endpoint or None)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise NotFound(f"{uri} does not exist") from exc
        raise CliError(f"{uri}: S3 refused the request ({code})") from exc
    except BotoCoreError as exc:
        raise CliError(f"{uri}: {exc}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CliError(f"{uri}: not JSON") from exc
