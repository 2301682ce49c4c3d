"""The sandbox's own certificate authority: it signs the local IoT endpoint's server certificate and the devices'.

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


class LocalCa:
    """A CA under `folder`: ca.pem and ca.key, and the server certificate of the local IoT endpoint."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert_file(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.folder / "server.key"

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
        key = new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        certificate = (
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
        _write(self.ca_key_file, key_pem(key), private=True)
        _write(self.ca_file, certificate.public_bytes(serialization.Encoding.PEM), private=False)

    def _load_authority(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        certificate = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(
                f"{self.ca_key_file} is not an EC private key: remove {self.folder} to make a new CA"
            )
        return certificate, key

    def _issue(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, usage: x509.ObjectIdentifier
    ) -> x509.CertificateBuilder:
        authority, _ = self._load_authority()
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

    def _make_server_certificate(self) -> None:
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAMES[0])])
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
        _, authority_key = self._load_authority()
        certificate = (
            self._issue(subject, key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(authority_key, hashes.SHA256())
        )
        _write(self.server_key_file, key_pem(key), private=True)
        _write(self.server_cert_file, certificate.public_bytes(serialization.Encoding.PEM), private=False)

    def sign(self, csr_pem: str) -> str:
        """A device certificate for a CSR (client authentication only), as the account's own CA would issue it."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("the certificate signing request's signature does not verify")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("the local CA signs EC (P-256) device keys only")
        _, authority_key = self._load_authority()
        certificate = self._issue(csr.subject, public_key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(
            authority_key, hashes.SHA256()
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()
