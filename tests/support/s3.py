"""A real S3 endpoint for tests: moto's server mode on loopback, driven over HTTP with boto3."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCESS_KEY = "AKIATESTPUBLISHER01"
SECRET_KEY = "s3cr3t-test-key-that-must-never-be-logged"


@dataclass(frozen=True)
class S3Endpoint:
    url: str  # http://127.0.0.1:<port>
    host: str
    port: int

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def public_url(self, bucket: str, key: str = "") -> str:
        """Plain HTTP URL of an object (path style), as a Stratum 0 URL would be."""
        return f"{self.url}/{bucket}/{key}" if key else f"{self.url}/{bucket}"


def start_moto() -> tuple[ThreadedMotoServer, S3Endpoint]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, S3Endpoint(url=f"http://{host}:{port}", host=host, port=port)


def moto_endpoint() -> Iterator[S3Endpoint]:
    server, endpoint = start_moto()
    try:
        yield endpoint
    finally:
        server.stop()
