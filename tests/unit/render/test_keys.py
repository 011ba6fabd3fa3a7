"""A repository's generated keys are what ``cvmfs_server mkfs`` writes: checked with the ``openssl``
command line (the tool the scripts use), against a keychain made by running the scripts' own
commands (cvmfs_server_ssl.sh ``create_master_key`` and ``create_cert``), and with cryptography."""

from __future__ import annotations

import base64
import datetime
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cvmfs_operator.api.types import Repository
from cvmfs_operator.render import keys

FQRN = "software.example.org"
LONG = "a-rather-long-repository-name.example.org"  # over 30 characters: the CN is cut
NOW = datetime.datetime(2026, 12, 1, 17, 32, 19, 123456, tzinfo=datetime.UTC)
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")


@pytest.fixture(scope="module")
def chain() -> keys.Keychain:
    return keys.generate_keychain(FQRN, NOW)


@pytest.fixture(scope="module")
def written(chain: keys.Keychain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    for name, content in {**chain.files(), **chain.master_files()}.items():
        (directory / name).write_bytes(content)
    return directory


def openssl(*args: str, cwd: Path | None = None) -> str:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


# The script's functions, with /etc/cvmfs/keys replaced by the current directory; chmod and chown
# left out. Copied from cvmfs/server/cvmfs_server_ssl.sh at ae7450ec (CernVM-FS 2.12.0).
SCRIPT = r"""
set -e
name=$1
master_key="$name.masterkey"; master_pub="$name.pub"
openssl genrsa -out $master_key 2048 > /dev/null 2>&1
openssl rsa -in $master_key -pubout -out $master_pub > /dev/null 2>&1
key="$name.key"; csr="$name.csr"; crt="$name.crt"
cn="$name"
if [ $(echo -n "$cn" | wc -c) -gt 30 ]; then
  cn="$(echo -n "$cn" | head -c 30)[...]"
fi
cn="$cn CernVM-FS Release Managers"
openssl genrsa -out $key 2048 > /dev/null 2>&1
openssl req -new -subj "/CN=$cn" -key $key -out $csr > /dev/null 2>&1
openssl x509 -req -days 365 -in $csr -signkey $key -out $crt > /dev/null 2>&1
rm -f $csr
"""


@pytest.fixture(scope="module")
def by_the_script(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if OPENSSL is None:
        pytest.skip("the openssl command line is not installed")
    made: dict[str, Path] = {}
    for fqrn in (FQRN, LONG):
        directory = tmp_path_factory.mktemp("script")
        subprocess.run(["sh", "-c", SCRIPT, "sh", fqrn], cwd=directory, check=True, timeout=120)
        made[fqrn] = directory
    return made


LINE = re.compile(r"\s*\d+:d=(\d+)\s+hl=\s*\d+\s+l=\s*\d+\s+(prim|cons):\s*([^:]*?)\s*(?::(.*))?$")


def _structure(pem_path: Path) -> list[str]:
    """``openssl asn1parse`` of a PEM file without offsets and lengths, with the values that differ
    between two keychains (serial, times, key and signature bits) masked."""
    varying = ("INTEGER", "UTCTIME", "GENERALIZEDTIME", "BIT STRING", "OCTET STRING")
    lines = []
    for line in openssl("asn1parse", "-in", str(pem_path)).splitlines():
        found = LINE.match(line)
        assert found, line
        depth, form, kind, value = found.groups()
        shown = "<varies>" if any(v in kind for v in varying) else value or ""
        lines.append(f"{depth} {form} {kind} {shown}")
    return lines


# --------------------------------------------------------------------------------------------
# Against the openssl command line and the script's own output
# --------------------------------------------------------------------------------------------


@needs_openssl
def test_the_pub_is_the_master_keys_public_key(written: Path) -> None:
    derived = openssl("rsa", "-in", f"{FQRN}.masterkey", "-pubout", cwd=written)
    assert derived == (written / f"{FQRN}.pub").read_text()
    assert derived.startswith("-----BEGIN PUBLIC KEY-----\n")


@needs_openssl
@pytest.mark.parametrize("name", [f"{FQRN}.masterkey", f"{FQRN}.key"])
def test_private_keys_are_openssl_3_genrsa_pkcs8(written: Path, name: str) -> None:
    text = (written / name).read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert openssl("pkey", "-in", name, cwd=written) == text  # OpenSSL's own PKCS#8 PEM, byte for byte
    assert "RSA key ok" in openssl("rsa", "-in", name, "-check", "-noout", cwd=written)
    details = openssl("rsa", "-in", name, "-text", "-noout", cwd=written)
    assert "Private-Key: (2048 bit, 2 primes)" in details
    assert "publicExponent: 65537 (0x10001)" in details


@needs_openssl
def test_the_certificate_holds_the_repository_key(written: Path) -> None:
    in_cert = openssl("x509", "-in", f"{FQRN}.crt", "-pubkey", "-noout", cwd=written)
    assert in_cert == openssl("rsa", "-in", f"{FQRN}.key", "-pubout", cwd=written)
    assert in_cert != (written / f"{FQRN}.pub").read_text()  # the .pub is the master key's


@needs_openssl
def test_the_certificate_reads_as_the_scripts_does(written: Path) -> None:
    text = openssl("x509", "-in", f"{FQRN}.crt", "-noout", "-text", cwd=written)
    assert "Version: 1 (0x0)" in text
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    assert f"Issuer: CN = {FQRN} CernVM-FS Release Managers" in text
    assert f"Subject: CN = {FQRN} CernVM-FS Release Managers" in text
    assert "Not Before: Dec  1 17:32:19 2026 GMT" in text
    assert "Not After : Dec  1 17:32:19 2027 GMT" in text
    assert "X509v3" not in text  # no extensions
    verified = openssl("verify", "-CAfile", f"{FQRN}.crt", f"{FQRN}.crt", cwd=written)
    assert verified.strip() == f"{FQRN}.crt: OK"


@needs_openssl
@pytest.mark.parametrize("fqrn", [FQRN, LONG])
@pytest.mark.parametrize("suffix", ["crt", "key", "masterkey", "pub"])
def test_same_structure_as_the_scripts_keychain(by_the_script: dict[str, Path], fqrn: str, suffix: str,
                                                tmp_path: Path) -> None:
    ours = keys.generate_keychain(fqrn, NOW)
    content = {"crt": ours.crt, "key": ours.key, "masterkey": ours.masterkey, "pub": ours.pub}[suffix]
    (tmp_path / f"{fqrn}.{suffix}").write_bytes(content)
    theirs = by_the_script[fqrn] / f"{fqrn}.{suffix}"
    assert _structure(tmp_path / f"{fqrn}.{suffix}") == _structure(theirs)
    first_line = theirs.read_text().splitlines()[0]
    assert content.decode().splitlines()[0] == first_line


@needs_openssl
def test_the_serial_is_random_and_as_long_as_openssls(by_the_script: dict[str, Path]) -> None:
    serials = {keys.generate_keychain(FQRN, NOW).crt for _ in range(2)}
    assert len(serials) == 2
    theirs = x509.load_pem_x509_certificate((by_the_script[FQRN] / f"{FQRN}.crt").read_bytes())
    ours = x509.load_pem_x509_certificate(next(iter(serials)))
    assert theirs.serial_number.bit_length() <= 159
    assert 128 < ours.serial_number.bit_length() <= 159


# --------------------------------------------------------------------------------------------
# With cryptography only (runs everywhere)
# --------------------------------------------------------------------------------------------


def test_certificate_fields(chain: keys.Keychain) -> None:
    cert = x509.load_pem_x509_certificate(chain.crt)
    assert cert.version is x509.Version.v1
    assert len(cert.extensions) == 0
    assert cert.subject.rfc4514_string() == f"CN={FQRN} CernVM-FS Release Managers"
    assert cert.issuer == cert.subject
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=365)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    key = serialization.load_pem_private_key(chain.key, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert cert.public_key() == key.public_key()
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    master = serialization.load_pem_private_key(chain.masterkey, password=None)
    assert isinstance(master, rsa.RSAPrivateKey)
    assert serialization.load_pem_public_key(chain.pub) == master.public_key()
    assert master.public_key().public_numbers().e == 65537


@pytest.mark.parametrize(("fqrn", "cn"), [
    ("a.b", "a.b CernVM-FS Release Managers"),
    ("x" * 30, "x" * 30 + " CernVM-FS Release Managers"),
    (LONG, "a-rather-long-repository-name.[...] CernVM-FS Release Managers"),
])
def test_common_name_cut_as_the_script_cuts_it(fqrn: str, cn: str) -> None:
    assert keys.common_name(fqrn) == cn


def test_certificates_after_2049_use_generalized_time() -> None:
    chain = keys.generate_keychain(FQRN, datetime.datetime(2049, 6, 1, tzinfo=datetime.UTC))
    cert = x509.load_pem_x509_certificate(chain.crt)
    assert cert.not_valid_after_utc == datetime.datetime(2050, 6, 1, tzinfo=datetime.UTC)


# --------------------------------------------------------------------------------------------
# The Secrets
# --------------------------------------------------------------------------------------------

REPOSITORY: dict[str, Any] = {
    "metadata": {"name": FQRN, "uid": "u"},
    "spec": {
        "stratum0": {"url": "http://s3/x", "s3": {"endpoint": "http://s3", "bucket": "cvmfs",
                                                  "credentialsSecretRef": {"name": "s3"}}},
        "keysSecretRef": {"name": "software-keys"},
        "masterKeySecretRef": {"name": "software-masterkey"},
        "allowedNamespaces": [],
        "create": {},
    },
}


def _decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def test_the_two_secrets(chain: keys.Keychain) -> None:
    keys_secret, master_secret = keys.key_secrets(cast(Repository, REPOSITORY), chain, "cvmfs-system")
    labels = {"app.kubernetes.io/managed-by": "cvmfs-release-operator",
              "cvmfs.cern.ch/repository": FQRN}
    assert keys_secret == {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True,
        "metadata": {"name": "software-keys", "namespace": "cvmfs-system",
                     "labels": {**labels, "app.kubernetes.io/component": "repository-keys"},
                     "annotations": {"cvmfs.cern.ch/repository": FQRN}},
        "data": keys_secret["data"],
    }
    assert _decoded(keys_secret) == {
        f"{FQRN}.crt": chain.crt, f"{FQRN}.key": chain.key, f"{FQRN}.pub": chain.pub}
    assert master_secret["metadata"] == {
        "name": "software-masterkey", "namespace": "cvmfs-system",
        "labels": {**labels, "app.kubernetes.io/component": "repository-master-key"},
        "annotations": {"cvmfs.cern.ch/repository": FQRN}}
    assert master_secret["immutable"] is True
    assert _decoded(master_secret) == {f"{FQRN}.masterkey": chain.masterkey}
    assert "ownerReferences" not in keys_secret["metadata"]  # deleting the Repository keeps its keys


def test_secrets_need_the_master_key_reference_and_the_right_repository(chain: keys.Keychain) -> None:
    spec = {k: v for k, v in REPOSITORY["spec"].items() if k != "masterKeySecretRef"}
    without = {**REPOSITORY, "spec": spec}
    with pytest.raises(ValueError, match="masterKeySecretRef"):
        keys.key_secrets(cast(Repository, without), chain, "ns")
    other = {**REPOSITORY, "metadata": {"name": "other.example.org"}}
    with pytest.raises(ValueError, match=r"keychain of software\.example\.org"):
        keys.key_secrets(cast(Repository, other), chain, "ns")


def test_secrets_validate_as_kubernetes_objects(chain: keys.Keychain) -> None:
    import kubernetes_validate

    for secret in keys.key_secrets(cast(Repository, REPOSITORY), chain, "cvmfs-system"):
        kubernetes_validate.validate(secret, "1.30", strict=True)
