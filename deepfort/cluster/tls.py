"""gRPC credentials from the TLS settings: server-side TLS (optionally demanding client certificates)
and the edge's channel credentials."""

from __future__ import annotations

from pathlib import Path

import grpc

from deepfort.config import TlsSettings
from deepfort.errors import ConfigError


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS {what} {path}: {exc.strerror}") from None


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    if not tls.enabled:
        return None
    cert, key, ca = _read(tls.cert, "certificate"), _read(tls.key, "key"), _read(tls.ca, "CA bundle")
    if cert is None or key is None:
        raise ConfigError("a TLS center needs cluster.tls.cert and cluster.tls.key")
    if tls.client_auth and ca is None:
        raise ConfigError("cluster.tls.client_auth needs cluster.tls.ca to verify client certificates")
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=tls.client_auth
    )


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    if not tls.enabled:
        return None
    cert, key = _read(tls.cert, "certificate"), _read(tls.key, "key")
    if (cert is None) != (key is None):
        raise ConfigError("give both cluster.tls.cert and cluster.tls.key, or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca, "CA bundle"), private_key=key, certificate_chain=cert
    )
