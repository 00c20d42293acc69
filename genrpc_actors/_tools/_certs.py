"""Certificates for the ``ssl`` driver: a CA, and a key and certificate per node.

A node's certificate names the node (``name@host``) as its subject's common name and in its
subjectAltName (as a URI ``genrpc:name@host`` and, for the host part, as a DNS name or an IP
address), so a peer can check that it talks to the node it meant to. Keys are written with mode
0600, certificates with 0644.
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

__all__ = ["NodeFiles", "create_ca", "create_node_certificate", "node_uri"]

VALIDITY = datetime.timedelta(days=825)


def node_uri(node: str) -> str:
    """The URI by which a certificate names a node."""
    return f"genrpc:{node}"


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.chmod(path, mode)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_ca(directory: str | os.PathLike[str], name: str = "genrpc CA") -> tuple[Path, Path]:
    """Create ``ca.key.pem`` and ``ca.cert.pem`` in ``directory``; returns their paths."""
    folder = Path(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "ca.key.pem", folder / "ca.cert.pem"
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, cert_path


class NodeFiles:
    """Where a node's key and certificate were written, and the CA that signed them."""

    __slots__ = ("cacertfile", "certfile", "keyfile", "node")

    def __init__(self, node: str, keyfile: Path, certfile: Path, cacertfile: Path) -> None:
        self.node, self.keyfile, self.certfile, self.cacertfile = (
            node,
            keyfile,
            certfile,
            cacertfile,
        )

    def options(self) -> dict[str, str]:
        """``ssl_server_options`` / ``ssl_client_options`` for this node."""
        return {
            "certfile": str(self.certfile),
            "keyfile": str(self.keyfile),
            "cacertfile": str(self.cacertfile),
        }

    def __repr__(self) -> str:
        return f"<NodeFiles {self.node} cert={self.certfile}>"


def create_node_certificate(
    directory: str | os.PathLike[str], node: str, ca_dir: str | os.PathLike[str] | None = None
) -> NodeFiles:
    """Create ``<node>.key.pem`` and ``<node>.cert.pem`` signed by the CA in ``ca_dir``
    (default: ``directory``; created there if missing)."""
    if node.count("@") != 1:
        raise ValueError(f"a node name is 'name@host', not {node!r}")
    folder = Path(directory)
    ca_folder = Path(ca_dir) if ca_dir is not None else folder
    ca_key_path, ca_cert_path = ca_folder / "ca.key.pem", ca_folder / "ca.cert.pem"
    if not ca_cert_path.exists():
        create_ca(ca_folder)
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca_key_path} is not an EC key made by genrpc certs")
    host = node.partition("@")[2]
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(node_uri(node))]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    safe = node.replace("/", "_")
    key_path, cert_path = folder / f"{safe}.key.pem", folder / f"{safe}.cert.pem"
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return NodeFiles(node, key_path, cert_path, ca_cert_path)
