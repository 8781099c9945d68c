"""The S3 blob store: attachments as objects `<prefix><id>` in a bucket (AWS or compatible).

Credentials come the usual boto3 way (the `AWS_*` variables, a profile, an instance role);
`SUPPORT_S3_ENDPOINT_URL` points it at MinIO, Ceph or another S3-compatible server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from agent.backends.blobs import blob_id_of, is_blob_id
from agent.errors import ConfigError, NotFound, Unavailable
from agent.settings import Settings

_DELETE_BATCH = 1000  # the most keys S3's DeleteObjects takes at once


class S3BlobStore:
    """Blobs as objects in one bucket under one key prefix."""

    kind = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        """A store on `SUPPORT_S3_BUCKET` (at `SUPPORT_S3_ENDPOINT_URL` when set)."""
        if not settings.s3_bucket:
            raise ConfigError("SUPPORT_BLOB_STORE=s3 needs SUPPORT_S3_BUCKET (the bucket that "
                              "holds the attachments)")
        import boto3

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None)
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def _key(self, blob_id: str) -> str:
        return f"{self.prefix}{blob_id}"

    def put(self, data: bytes) -> str:
        """Upload the blob (again: S3 keeps the newest write time); return its id."""
        blob_id = blob_id_of(data)
        with _s3_errors(self.client, self.bucket):
            self.client.put_object(Bucket=self.bucket, Key=self._key(blob_id), Body=data)
        return blob_id

    def get(self, blob_id: str) -> bytes:
        """The blob's bytes."""
        if not is_blob_id(blob_id):
            raise NotFound("attachment data not found")
        with _s3_errors(self.client, self.bucket):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(blob_id))
            except self.client.exceptions.NoSuchKey:
                raise NotFound(f"attachment data {blob_id[:12]}… not found (it may have been "
                               "removed)") from None
            return answer["Body"].read()

    def delete(self, blob_ids: Iterable[str]) -> int:
        """Delete the objects, up to 1000 per request."""
        keys = [{"Key": self._key(blob_id)} for blob_id in blob_ids if is_blob_id(blob_id)]
        deleted = 0
        with _s3_errors(self.client, self.bucket):
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start:start + _DELETE_BATCH]
                answer = self.client.delete_objects(Bucket=self.bucket,
                                                    Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch) - len(answer.get("Errors", []))
        return deleted

    def list_ids(self, *, written_before: float | None = None) -> Iterator[str]:
        """The ids of the objects under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        with _s3_errors(self.client, self.bucket):
            found = [(obj["Key"][len(self.prefix):], obj["LastModified"].timestamp())
                     for page in pages for obj in page.get("Contents", [])]
        return iter([blob_id for blob_id, written in found if is_blob_id(blob_id)
                     and (written_before is None or written < written_before)])

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


@contextlib.contextmanager
def _s3_errors(client: Any, bucket: str) -> Iterator[None]:
    """Turn S3 failures (unreachable, bad credentials, no bucket) into one clear error."""
    try:
        yield
    except client.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise Unavailable(f"S3 bucket {bucket} (SUPPORT_S3_BUCKET): "
                          f"{error.get('Code', 'error')}: {error.get('Message', '')}") from exc
    except Exception as exc:
        # botocore's own failures (no connection, no credentials) share one base class; it is
        # found by name so that only boto3, the declared dependency, is imported.
        if not any(cls.__name__ == "BotoCoreError" for cls in type(exc).__mro__):
            raise
        raise Unavailable(f"S3 bucket {bucket} is unreachable: {exc}") from exc
