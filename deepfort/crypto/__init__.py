"""National cryptography with no knowledge of deepfort's state: SM3 hashing and HMAC, SM4-GCM sealed
messages, and the keyrings (from an environment value or a ``0600`` keyring file) that hold their keys."""
