"""A real S3 endpoint for tests: moto's server mode on loopback, driven over HTTP with boto3."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
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


class MotoProcess:
    """moto's server in a process of its own (``python -m moto.server``): what a benchmark needs,
    where an in-process server would share the interpreter lock with everything else the harness
    runs and every S3 read would wait on the harness, not on S3."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoint = S3Endpoint(url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto's server did not start on port {port}")
            time.sleep(0.1)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
