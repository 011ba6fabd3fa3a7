from __future__ import annotations

from pathlib import Path
from typing import Any

from cvmfs_operator.api.contract import PublisherConfig
from cvmfs_operator.publisher import conffiles
from cvmfs_operator.publisher.paths import Layout

FQRN = "sw.example.org"
LAYOUT = Layout(root=Path("/"), fqrn=FQRN, result_path=Path("/dev/termination-log"))
CREDS = conffiles.S3Credentials(access_key="AK", secret_key="SK")


def _config(**overrides: Any) -> PublisherConfig:
    config: dict[str, Any] = {
        "contractVersion": 1, "fqrn": FQRN, "stratum0Url": "https://bucket.s3.example.org/sw.example.org",
        "s3": {"endpoint": "https://s3.example.org", "bucket": "bucket", "region": "", "dnsBuckets": True,
               "prefix": "cvmfs/sw.example.org", "maxConnections": 64, "acl": ""},
        "settings": {"hashAlgorithm": "shake128", "compressionAlgorithm": "none", "garbageCollection": True,
                     "autoTag": False},
        "path": "/", "payload": {"remove": {"paths": ["x"]}}, "tagName": "t", "tagDescription": "",
        "reflogChecksum": None, "revisionBefore": None, "transaction": "ns/t", "allowScripts": False,
    }
    config.update(overrides)
    return config  # type: ignore[return-value]


def test_server_conf_carries_the_repository_settings_and_s3_upstream() -> None:
    text = conffiles.server_conf(_config(), LAYOUT)
    lines = set(text.splitlines())
    assert {
        "CVMFS_CREATOR_VERSION=143",
        "CVMFS_REPOSITORY_NAME=sw.example.org",
        "CVMFS_USER=root",
        "CVMFS_UNION_DIR=/cvmfs/sw.example.org",
        "CVMFS_SPOOL_DIR=/var/spool/cvmfs/sw.example.org",
        "CVMFS_STRATUM0=https://bucket.s3.example.org/sw.example.org",
        "CVMFS_UPSTREAM_STORAGE=S3,/var/spool/cvmfs/sw.example.org/tmp,"
        "cvmfs/sw.example.org@/etc/cvmfs/s3/sw.example.org.conf",
        "CVMFS_HASH_ALGORITHM=shake128",
        "CVMFS_COMPRESSION_ALGORITHM=none",
        "CVMFS_GARBAGE_COLLECTION=true",
        "CVMFS_AUTO_GC=false",
        "CVMFS_AUTO_TAG=false",
        "CVMFS_FORCE_REMOUNT_WARNING=false",
    } <= lines


def test_gateway_upstream() -> None:
    config = _config(gateway={"url": "http://gw:4929/api/v1"})
    del config["s3"]
    assert conffiles.upstream(config, LAYOUT) == "gw,/var/spool/cvmfs/sw.example.org/tmp,http://gw:4929/api/v1"


def test_s3_conf_dns_style_with_empty_acl() -> None:
    text = conffiles.s3_conf(_config()["s3"], CREDS)
    assert text == (
        "CVMFS_S3_HOST=s3.example.org\nCVMFS_S3_ACCESS_KEY=AK\nCVMFS_S3_SECRET_KEY=SK\n"
        "CVMFS_S3_BUCKET=bucket\nCVMFS_S3_DNS_BUCKETS=true\nCVMFS_S3_USE_HTTPS=true\n"
        "CVMFS_S3_MAX_NUMBER_OF_PARALLEL_CONNECTIONS=64\nCVMFS_S3_X_AMZ_ACL=\"\"\n"
    )


def test_s3_conf_path_style_with_port_and_region() -> None:
    target = {"endpoint": "http://rgw.local:8080", "bucket": "b", "region": "eu-1", "dnsBuckets": False,
              "prefix": FQRN, "maxConnections": 0, "acl": "public-read"}
    lines = conffiles.s3_conf(target, CREDS).splitlines()  # type: ignore[arg-type]
    assert "CVMFS_S3_HOST=rgw.local" in lines
    assert "CVMFS_S3_PORT=8080" in lines
    assert "CVMFS_S3_DNS_BUCKETS=false" in lines
    assert "CVMFS_S3_USE_HTTPS=false" in lines
    assert "CVMFS_S3_REGION=eu-1" in lines
    assert "CVMFS_S3_X_AMZ_ACL=public-read" in lines


def test_fstab_lines_replace_older_ones_for_the_same_repository() -> None:
    old = "proc /proc proc defaults 0 0\nstale line # added by CernVM-FS for sw.example.org\n"
    merged = conffiles.merge_fstab(old, LAYOUT).splitlines()
    assert merged[0] == "proc /proc proc defaults 0 0"
    assert merged[1] == (
        "cvmfs2#sw.example.org /var/spool/cvmfs/sw.example.org/rdonly fuse allow_other,fsname=sw.example.org,"
        "config=/etc/cvmfs/repositories.d/sw.example.org/client.conf:/var/spool/cvmfs/sw.example.org/"
        "client.local,cvmfs_suid,noauto 0 0 # added by CernVM-FS for sw.example.org")
    assert merged[2] == (
        "overlay_sw.example.org /cvmfs/sw.example.org overlay upperdir=/var/spool/cvmfs/sw.example.org/"
        "scratch/current,lowerdir=/var/spool/cvmfs/sw.example.org/rdonly,workdir=/var/spool/cvmfs/"
        "sw.example.org/ofs_workdir,noauto,nodev,ro 0 0 # added by CernVM-FS for sw.example.org")
    assert len(merged) == 3
