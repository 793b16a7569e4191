"""Wiring: builds one server node's services (models, centers, router, store, access, pipeline, workflow
runs) from settings. Everything a surface (the HTTP app, the CLI) needs is reached through a ``Node``."""
