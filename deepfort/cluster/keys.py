"""Where a node finds its cluster keys and node secret."""

from __future__ import annotations

from pathlib import Path

from deepfort.config import ClusterSettings
from deepfort.crypto.sm import Keyring
from deepfort.errors import ConfigError

DEFAULT_KEYRING = "cluster-keyring.json"


def load_keyring(settings: ClusterSettings, data_dir: Path) -> Keyring:
    """Inline keys (``DEEPFORT_CLUSTER__KEYS``) win, then ``cluster.keyring``, then the keyring file in
    the data directory."""
    if settings.keys is not None:
        return Keyring.parse_env(settings.keys.get_secret_value())
    path = settings.keyring or data_dir / DEFAULT_KEYRING
    if not path.is_file():
        raise ConfigError(
            f"no cluster keys: create a keyring with `deepfort cluster keygen --keyring {path}` and copy "
            "it (mode 0600) to every node, or set DEEPFORT_CLUSTER__KEYS"
        )
    return Keyring.load(path)


def node_secret(settings: ClusterSettings) -> bytes:
    if settings.node_secret is None:
        raise ConfigError(
            "no node secret: set cluster.node_secret (or DEEPFORT_CLUSTER__NODE_SECRET) to the same value "
            "on every node"
        )
    secret = settings.node_secret.get_secret_value().encode()
    if len(secret) < 16:
        raise ConfigError("the node secret must be at least 16 characters")
    return secret
