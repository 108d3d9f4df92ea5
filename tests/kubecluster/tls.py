"""A self-signed CA and server certificate for 127.0.0.1, made once per process.

cluster.py gives the apiserver these files and the fault proxy ``server_context``;
kubeconfig.py embeds ``ca_pem`` as certificate-authority-data. TLS is not optional:
kubectl (clientcmd) only sends bearer tokens over TLS.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def _material() -> tuple[bytes, bytes, bytes]:
    """(CA cert PEM, server cert PEM, server key PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeapi-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def ca_pem() -> bytes:
    return _material()[0]


def ca_data() -> str:
    """certificate-authority-data for a kubeconfig."""
    return base64.b64encode(ca_pem()).decode()


@functools.cache
def ca_file() -> str:
    """The CA certificate in a file (for clients that want a path)."""
    path = Path(tempfile.mkdtemp(prefix="kubeapi-ca-")) / "ca.crt"
    path.write_bytes(ca_pem())
    return str(path)


@functools.cache
def server_context() -> ssl.SSLContext:
    _, cert, key = _material()
    folder = Path(tempfile.mkdtemp(prefix="kubeapi-tls-"))
    (folder / "tls.crt").write_bytes(cert)
    (folder / "tls.key").write_bytes(key)
    (folder / "tls.key").chmod(0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
