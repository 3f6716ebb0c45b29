"""Open a CRM export by URI: a local path, `gs://bucket/key` or `s3://bucket/key`, streamed as bytes.

Cloud objects are read as a stream, not downloaded first, so an export larger than the disk still
loads. `size` (when known) drives the progress bar.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast


class SourceError(Exception):
    """The export cannot be opened; the message says which and why."""


@dataclass
class Source:
    uri: str
    stream: BinaryIO
    size: int | None


def split_cloud_uri(uri: str) -> tuple[str, str, str]:
    """('gs' | 's3', bucket, key) of a cloud URI."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise SourceError(f"{uri}: expected {scheme}://BUCKET/KEY")
    return scheme, bucket, key


@contextmanager
def open_source(uri: str) -> Iterator[Source]:
    """The export behind `uri`, open for reading; closed when the block ends."""
    if uri.startswith("s3://"):
        opened = _open_s3(*split_cloud_uri(uri)[1:])
    elif uri.startswith("gs://"):
        opened = _open_gcs(*split_cloud_uri(uri)[1:])
    elif "://" in uri:
        raise SourceError(f"{uri}: unsupported source; use a local path, gs://BUCKET/KEY or s3://BUCKET/KEY")
    else:
        opened = _open_local(Path(uri))
    stream, size = opened
    try:
        yield Source(uri, stream, size)
    finally:
        stream.close()


def _open_local(path: Path) -> tuple[BinaryIO, int | None]:
    try:
        return path.open("rb"), path.stat().st_size
    except OSError as error:
        raise SourceError(f"{path}: cannot open ({error.strerror or error})") from None


def _open_s3(bucket: str, key: str) -> tuple[BinaryIO, int | None]:
    # boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 itself (moto_server in tests, MinIO, ...),
    # and credentials from the usual chain.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"s3://{bucket}/{key}: cannot read it ({code})") from None
    except BotoCoreError as error:
        raise SourceError(f"s3://{bucket}/{key}: cannot read it ({error})") from None
    return cast(BinaryIO, _RawReader(response["Body"])), response.get("ContentLength")


def _open_gcs(bucket: str, key: str) -> tuple[BinaryIO, int | None]:
    # STORAGE_EMULATOR_HOST, when set, points the client at an emulator with anonymous credentials.
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors
    from google.cloud import storage  # type: ignore[attr-defined]

    try:
        blob = storage.Client(project=None).bucket(bucket).blob(key)
        blob.reload(timeout=30)
        return blob.open("rb"), blob.size
    except (api_errors.GoogleAPIError, auth_errors.GoogleAuthError) as error:
        raise SourceError(f"gs://{bucket}/{key}: cannot read it ({type(error).__name__}: "
                          f"{getattr(error, 'message', error)})") from None


class _RawReader(io.RawIOBase):
    """Adapts an object with `read(n)` (boto3's StreamingBody) to a file the io stack can buffer."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()
