"""A hall's own certificate authority, made with the `cryptography` package: the CA, the
broker's server certificate and one client certificate per device.

Keys are ECDSA P-256: small, fast on the weakest kiosk board, and accepted by Mosquitto's
OpenSSL and paho's `ssl` alike. A device certificate's common name is its device id, which
Mosquitto turns into the user name (`use_identity_as_username`) so the hall ACL applies to it.
The CA key stays with the technician's credentials folder: it is needed to add devices later
and must never go onto a device.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 20
LEAF_YEARS = 10  # devices stay in a hall for years; a certificate expiring mid-service is an outage


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    # A minute back: a device whose clock is slightly behind still accepts a fresh certificate.
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)


def make_ca(hall: str, years: int = CA_YEARS) -> Issued:
    """A self-signed CA for one hall."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "taxhall"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"taxhall hall {hall} CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue(ca: Issued, common_name: str, *, server_hosts: Iterable[str] = (), years: int = LEAF_YEARS) -> Issued:
    """A certificate signed by `ca`: a server's (for `server_hosts`, checked by clients against
    the address they dial) or, without hosts, a client's whose common name is its identity."""
    ca_cert, ca_key = ca.certificate(), ca.private_key()
    key = ec.generate_private_key(ec.SECP256R1())
    hosts = list(server_hosts)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "taxhall"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(min(_now() + dt.timedelta(days=365 * years), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def load_or_make_ca(directory: Path, hall: str) -> Issued:
    """The CA kept in `directory` (ca.crt, ca.key), made there the first time: rerunning
    `credentials` to add a device must not replace the CA every device already trusts."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        return Issued(cert_path.read_bytes(), key_path.read_bytes())
    ca = make_ca(hall)
    directory.mkdir(parents=True, exist_ok=True)
    write_private(key_path, ca.key_pem)
    cert_path.write_bytes(ca.cert_pem)
    return ca


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Writes a secret readable by its owner only, never world-readable even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
