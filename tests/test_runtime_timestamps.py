"""The worker's clients read ISO 8601 timestamps fast and every other form as botocore does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

from baton.handler.runtime import Runtime, read_timestamp

LISTING = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>bucket-a</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>
<IsTruncated>false</IsTruncated>
<Contents><Key>k1</Key><LastModified>2026-12-01T18:11:06.250Z</LastModified>
<ETag>"e"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"""


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T18:11:06.250Z",
        "2026-12-01T18:11:06Z",
        "2026-12-01T18:11:06+02:00",
        "Tue, 01 Dec 2026 18:11:06 GMT",  # HTTP date (Last-Modified header)
        "1764612666",  # epoch seconds
        1764612666.5,
    ],
)
def test_every_form_reads_as_the_same_instant_as_botocores_parser(value: object) -> None:
    ours, theirs = read_timestamp(value), DEFAULT_TIMESTAMP_PARSER(value)
    assert ours == theirs and ours.tzinfo is not None


def test_a_time_without_a_zone_is_left_to_botocore() -> None:
    naive = "2026-12-01T18:11:06"
    assert read_timestamp(naive) == DEFAULT_TIMESTAMP_PARSER(naive)


class Listing(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(LISTING)))
        self.end_headers()
        self.wfile.write(LISTING)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Listing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_workers_s3_client_reads_a_listing_with_the_fast_parser(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    page = Runtime.from_env().s3.list_objects_v2(Bucket="bucket-a")
    modified = page["Contents"][0]["LastModified"]
    assert modified == datetime(2026, 12, 1, 18, 11, 6, 250_000, tzinfo=UTC)
    assert modified.tzinfo is UTC  # fromisoformat's zone: dateutil would give tzutc()
