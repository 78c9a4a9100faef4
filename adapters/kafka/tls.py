"""A local certificate authority and the one certificate every node of a secure local
cluster presents, generated on first start under the git-ignored cache.

The node certificate names `CN=admin` (the broker principal, through the brokers'
`ssl.principal.mapping.rules`: the nodes authenticate to each other's controllers by
mutual TLS) and is valid for 127.0.0.1 and localhost, so clients verify the host name.
The nodes read their key from a PKCS#12 key store (Java's PEM key stores take only
encryption schemes older than the PBES2 one `cryptography` writes), encrypted with a
generated password; clients trust the CA's PEM. Every private file is 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.credentials import write_private

VALID_DAYS = 3650  # a local cluster's; regenerate by deleting the tls/ directory
NODE_PRINCIPAL = "admin"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate: what clients trust (ssl.ca.location)
    keystore: Path  # the nodes' key and certificate chain (PKCS#12, encrypted)
    key_password: Path  # the keystore key's password, 0600

    def password(self) -> str:
        return self.key_password.read_text().strip()


def ensure(directory: Path) -> TlsFiles:
    """The CA and node certificate under `directory`, generated if absent."""
    files = TlsFiles(directory / "ca.pem", directory / "node.p12", directory / "node.password")
    if not all(p.exists() for p in (files.ca, files.keystore, files.key_password)):
        directory.mkdir(parents=True, exist_ok=True)
        _generate(files)
    return files


def _generate(files: TlsFiles) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orderflow local CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, authority=True)
    node_key = ec.generate_private_key(ec.SECP256R1())
    node_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NODE_PRINCIPAL)])
    node = _certificate(node_name, ca_name, node_key.public_key(), ca_key, authority=False)
    password = secrets.token_urlsafe(24)
    store = pkcs12.serialize_key_and_certificates(
        NODE_PRINCIPAL.encode(), node_key, node, [ca],
        serialization.BestAvailableEncryption(password.encode()))
    write_private(files.key_password, password.encode())
    write_private(files.keystore, store)
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))


def _certificate(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
                 signer: ec.EllipticCurvePrivateKey, *, authority: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=authority, path_length=None),
                              critical=True))
    if not authority:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
    return builder.sign(signer, hashes.SHA256())

