"""A new repository's keys, in exactly the formats ``cvmfs_server mkfs`` writes, and their Secrets.

``cvmfs_server_ssl.sh`` (CernVM-FS 2.12, functions ``create_master_key`` and ``create_cert``) runs,
with the OpenSSL 3 of EL9 (the publisher image):

* ``openssl genrsa -out <fqrn>.masterkey 2048`` and ``openssl rsa -in <fqrn>.masterkey -pubout -out
  <fqrn>.pub``: an RSA-2048 key (exponent 65537) as unencrypted PKCS#8 PEM (``BEGIN PRIVATE KEY``;
  OpenSSL 1.x wrote ``BEGIN RSA PRIVATE KEY``, and cvmfs reads both), its public key as
  SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``). The ``.pub`` is the *master* public key.
* ``openssl genrsa -out <fqrn>.key 2048``, ``openssl req -new -subj "/CN=<cn>"`` and ``openssl x509
  -req -days 365 -signkey <fqrn>.key``: a self-signed X.509 **version 1** certificate (no
  extensions), a random 159-bit serial number, SHA-256 with RSA, issuer = subject = the one
  UTF8String common name ``<fqrn> CernVM-FS Release Managers`` (an FQRN over 30 characters cut to
  30 and followed by ``[...]``), valid from now for 365 days.

The ``cryptography`` library writes the keys byte for byte as OpenSSL does; it only builds version 3
certificates, so the version 1 certificate's to-be-signed part is encoded here (a few DER
structures) and signed with the library. Key generation is random by nature; the clock is an input.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from cvmfs_operator.api.types import Manifest, Repository
from cvmfs_operator.render import names

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
CERT_DAYS = 365
CN_SUFFIX = " CernVM-FS Release Managers"
CN_FQRN_MAX = 30
# AlgorithmIdentifier { sha256WithRSAEncryption (1.2.840.113549.1.1.11), NULL }
_SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
KEYS_COMPONENT = "repository-keys"
MASTER_KEY_COMPONENT = "repository-master-key"


@dataclass(frozen=True)
class Keychain:
    """The four files of a repository's keychain, as PEM bytes (the names cvmfs gives them)."""

    fqrn: str
    masterkey: bytes  # <fqrn>.masterkey: signs the whitelist; its own Secret, never in publisher pods
    pub: bytes  # <fqrn>.pub: the master public key that clients have
    key: bytes  # <fqrn>.key: signs each manifest
    crt: bytes  # <fqrn>.crt: the repository key's certificate, fingerprint on the whitelist

    def files(self) -> dict[str, bytes]:
        """The repository keys Secret's content: ``<fqrn>.crt``, ``.key`` and ``.pub``."""
        return {f"{self.fqrn}.crt": self.crt, f"{self.fqrn}.key": self.key, f"{self.fqrn}.pub": self.pub}

    def master_files(self) -> dict[str, bytes]:
        """The master key Secret's content: ``<fqrn>.masterkey`` alone."""
        return {f"{self.fqrn}.masterkey": self.masterkey}


def common_name(fqrn: str) -> str:
    """The certificate's CN as ``create_cert`` builds it (``head -c 30`` of the name, then ``[...]``)."""
    shown = fqrn if len(fqrn) <= CN_FQRN_MAX else fqrn[:CN_FQRN_MAX] + "[...]"
    return shown + CN_SUFFIX


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # a leading 0 keeps it positive


def _time(moment: datetime.datetime) -> bytes:
    """UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5), as OpenSSL writes them."""
    if moment.year < 2050:
        return _der(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _der(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def self_signed_v1(key: rsa.RSAPrivateKey, cn: str, now: datetime.datetime, serial: int) -> bytes:
    """``openssl x509 -req -days 365 -signkey``'s certificate for ``key`` as PEM."""
    start = now.astimezone(datetime.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]).public_bytes()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    validity = _der(0x30, _time(start) + _time(start + datetime.timedelta(days=CERT_DAYS)))
    # Version 1: the [0] version field is absent (RFC 5280: omitted for the default v1).
    tbs = _der(0x30, _integer(serial) + _SHA256_WITH_RSA + name + validity + name + spki)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    der = _der(0x30, tbs + _SHA256_WITH_RSA + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def generate_keychain(fqrn: str, now: datetime.datetime) -> Keychain:
    """New master key, repository key and certificate for ``fqrn`` (random; ``now`` starts the
    certificate's validity)."""
    master = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    repository = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    serial = x509.random_serial_number()  # 159 random bits, as OpenSSL's x509 -req
    return Keychain(
        fqrn=fqrn,
        masterkey=_private_pem(master),
        pub=_public_pem(master),
        key=_private_pem(repository),
        crt=self_signed_v1(repository, common_name(fqrn), now, serial),
    )


def _secret(name: str, namespace: str, fqrn: str, component: str, files: dict[str, bytes]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                names.LABEL_COMPONENT: component,
                names.LABEL_REPOSITORY: names.label_value(fqrn),
            },
            "annotations": {names.ANNOTATION_REPOSITORY: fqrn},
        },
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in sorted(files.items())},
    }


def keys_secret(keychain: Keychain, name: str, namespace: str) -> Manifest:
    """The repository keys Secret (``spec.keysSecretRef``): ``.crt``, ``.key``, ``.pub``; no master key."""
    return _secret(name, namespace, keychain.fqrn, KEYS_COMPONENT, keychain.files())


def master_key_secret(keychain: Keychain, name: str, namespace: str) -> Manifest:
    """The master key Secret (``spec.masterKeySecretRef``): ``<fqrn>.masterkey`` and nothing else."""
    return _secret(name, namespace, keychain.fqrn, MASTER_KEY_COMPONENT, keychain.master_files())


def key_secrets(repo: Repository, keychain: Keychain, namespace: str) -> tuple[Manifest, Manifest]:
    """Both Secrets of a Repository with ``spec.create``, named by its two Secret references.

    Created once and immutable: a second create gets 409 and the existing keys stay (a replica or
    a restart that generated another keychain must then use the stored one, never its own)."""
    spec = repo["spec"]
    if "masterKeySecretRef" not in spec:
        raise ValueError("a Repository with spec.create needs spec.masterKeySecretRef")
    if keychain.fqrn != repo["metadata"]["name"]:
        raise ValueError(f"keychain of {keychain.fqrn}, not of {repo['metadata']['name']}")
    return (keys_secret(keychain, spec["keysSecretRef"]["name"], namespace),
            master_key_secret(keychain, spec["masterKeySecretRef"]["name"], namespace))
