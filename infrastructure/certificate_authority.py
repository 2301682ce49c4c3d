"""A certificate authority of our own, the one module that makes every certificate the project issues.

The sandbox's (`LocalCa`, files under a folder) signs the local IoT endpoint's and local influxd's server
certificate and the devices'. The deploy tool's (`new_authority`, `issue_server`, PEM in memory) signs the ECS
InfluxDB's server certificate for its Cloud Map name; it keeps both in Secrets Manager (infrastructure/influx_tls.py).

On AWS a device certificate is issued by Amazon's CA (CreateCertificateFromCsr) or by the account's own CA,
registered with RegisterCACertificate, whose device certificates are registered with RegisterCertificate.
Locally the second flow is played: this authority is registered in moto like a customer CA, and
`simulator provision --target local` has it sign each device's certificate signing request.
Keys are kept with mode 0600 under the sandbox folder.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "IoT telemetry sandbox CA"
SERVER_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)
CA_DAYS = 3650
LEAF_DAYS = 365


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.chmod(0o600 if private else 0o644)
    tmp.replace(path)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _authority_certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip


def _load_key(pem: bytes, where: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{where} is not an EC private key: remove it to make a new CA")
    return key


def _leaf(
    authority: x509.Certificate,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    usage: x509.ObjectIdentifier,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )


def _server_certificate(
    authority: x509.Certificate,
    authority_key: ec.EllipticCurvePrivateKey,
    dns_names: Sequence[str],
    ips: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A server certificate (PEM) and its key (PEM) whose SAN is `dns_names` and `ips`; the first name is the CN."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    certificate = (
        _leaf(authority, subject, key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(authority_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem(key)


def new_authority(common_name: str) -> tuple[bytes, bytes]:
    """A new CA: its certificate (PEM) and its private key (PEM)."""
    key = new_key()
    return _authority_certificate(key, common_name).public_bytes(serialization.Encoding.PEM), key_pem(key)


def issue_server(
    ca_pem: bytes, ca_key_pem: bytes, dns_names: Sequence[str], ips: Sequence[str] = ()
) -> tuple[bytes, bytes]:
    """A server certificate and key (PEM) signed by the CA given as PEM."""
    authority = x509.load_pem_x509_certificate(ca_pem)
    return _server_certificate(authority, _load_key(ca_key_pem, "the CA's key"), dns_names, ips)


class LocalCa:
    """A CA under `folder`: ca.pem and ca.key, and the server certificate of the local IoT endpoint."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_file = folder / "ca.pem"
        self.ca_key_file = folder / "ca.key"
        self.server_cert_file = folder / "server.pem"
        self.server_key_file = folder / "server.key"

    @property
    def ca_pem(self) -> str:
        return self.ca_file.read_text()

    def ensure(self) -> LocalCa:
        """Make the authority and the server certificate once; later calls reuse them."""
        if not (self.ca_file.exists() and self.ca_key_file.exists()):
            self._make_authority()
        if not (self.server_cert_file.exists() and self.server_key_file.exists()):
            self._make_server_certificate()
        return self

    def _make_authority(self) -> None:
        certificate, key = new_authority(CA_NAME)
        _write(self.ca_key_file, key, private=True)
        _write(self.ca_file, certificate, private=False)

    def _load_authority(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        certificate = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        return certificate, _load_key(self.ca_key_file.read_bytes(), str(self.ca_key_file))

    def _make_server_certificate(self) -> None:
        authority, authority_key = self._load_authority()
        certificate, key = _server_certificate(authority, authority_key, SERVER_NAMES, SERVER_IPS)
        _write(self.server_key_file, key, private=True)
        _write(self.server_cert_file, certificate, private=False)

    def sign(self, csr_pem: str) -> str:
        """A device certificate for a CSR (client authentication only), as the account's own CA would issue it."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("the certificate signing request's signature does not verify")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("the local CA signs EC (P-256) device keys only")
        authority, authority_key = self._load_authority()
        certificate = _leaf(authority, csr.subject, public_key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(
            authority_key, hashes.SHA256()
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()
