"""Stratum 0 integration fixtures: an S3 server that enforces credentials, and dead endpoints."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

from tests.integration.stratum0.repository import put_repository, release_tag

# moto reads INITIAL_NO_AUTH_ACTION_COUNT into a process-wide setting, so an authenticating server
# runs in its own process; the shared `s3` fixture keeps accepting any credentials.
_SERVER = """
import logging, sys
logging.disable(logging.CRITICAL)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""
_POLICY = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
AUTH_BUCKET = "cvmfs-auth"


@dataclass(frozen=True)
class AuthS3:
    url: str
    access_key: str
    secret_key: str
    bucket: str


@pytest.fixture(scope="session")
def auth_s3() -> Iterator[AuthS3]:
    """A moto server in a subprocess that checks signatures against its IAM users."""
    process = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = f"http://127.0.0.1:{int(process.stdout.readline())}"
        session = boto3.session.Session(aws_access_key_id="setup", aws_secret_access_key="setup",
                                        region_name="us-east-1")
        iam = session.client("iam", endpoint_url=url)
        iam.create_user(UserName="publisher")
        key = iam.create_access_key(UserName="publisher")["AccessKey"]
        iam.put_user_policy(UserName="publisher", PolicyName="s3", PolicyDocument=json.dumps(_POLICY))
        s3 = session.client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket=AUTH_BUCKET)
        put_repository(s3, AUTH_BUCKET, revision=5, tags=[release_tag("team-a-v1", 5)])
        # From now on every request must be signed by a known access key.
        urllib.request.urlopen(urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"}), timeout=5).close()
        yield AuthS3(url=url, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"],
                     bucket=AUTH_BUCKET)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])
