"""The distributions as a user installs them: wheels built from this repository, installed into a fresh virtual
environment with their declared dependencies from the package index, and nothing else.

1. planforge-runtime's wheel ALONE runs generated services: /healthz, /readyz, a route, and an event through the
   real RabbitMQ into the real PostgreSQL.
2. Then planforge's wheel beside it (a plain `pip install planforge`: no extras) generates every example byte
   for byte as committed in generated/.

One virtual environment serves both, in this order (the first test checks that planforge is not importable
yet); pip's cache is used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from planforge_testkit.e2e.isolation import discard

import planforge
from planforge.stack import Options, Stack, load_spec

from .conftest import REPO

pytestmark = pytest.mark.services

VERSION = planforge.__version__
EXAMPLES = sorted((REPO / "examples").glob("*/feature.yaml"))


def _pip(python: Path, *args: str, timeout: float = 900) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three wheels, built from the working tree without their dependencies."""
    out = tmp_path_factory.mktemp("wheels")
    projects = [str(REPO), str(REPO / "runtime"), str(REPO / "testkit")]  # paths: a bare name is an index lookup
    _pip(Path(sys.executable), "wheel", "--no-deps", "--quiet", "-w", str(out), *projects)
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == {"planforge", "planforge_runtime", "planforge_testkit"}, built
    assert all(f"-{VERSION}-" in path.name for path in built.values())
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    """A fresh virtual environment holding the runtime wheel and what it declares; its python."""
    root = tmp_path_factory.mktemp("venv") / "runtime-only"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    _pip(python, "install", "--quiet", "--no-compile", str(wheels["planforge_runtime"]))
    return python


def _imports(python: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(python), "-c", code], timeout=60, env=_clean_env()).returncode == 0


def _clean_env() -> dict[str, str]:
    """This process's environment without what would make another interpreter see this one's packages."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.fixture
def isolated(tmp_path: Path) -> Iterator[Options]:
    """Stack options with names no other run uses; the databases, vhost and keys are removed afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed (needed for a fresh vhost)")
    token = uuid.uuid4().hex[:12]
    options = Options(
        state=tmp_path / "state",
        vhost=f"planforge-wheel-{token}",
        db_prefix=f"pf_wheel_{token}_",
        redis_prefix=f"pf-wheel-{token}:",
        free_ports=True,
        gateway=False,
    )
    try:
        yield options
    finally:
        spec = load_spec(REPO / "generated" / "user-accounts")
        databases = [options.db_prefix + s.database for s in spec.services if s.database]
        discard(databases, options.postgres_url, options.vhost or "", options.redis_url, options.redis_prefix)


def _eventually(probe: httpx.Client, url: str, body: dict[str, str], timeout: float = 60) -> httpx.Response:
    """POST until the answer is 200 (the consumer has done its work), or the last answer after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe.post(url, json=body)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


def test_the_runtime_wheel_alone_runs_generated_services(venv: Path, isolated: Options, tmp_path: Path) -> None:
    """user-accounts' services in a venv with only planforge-runtime: probes, a route, an event end to end."""
    assert _imports(venv, "planforge_runtime")
    assert not _imports(venv, "planforge")
    assert not _imports(venv, "planforge_testkit")
    assert not _imports(venv, "jinja2")
    generated = tmp_path / "user-accounts"
    shutil.copytree(REPO / "generated" / "user-accounts", generated)  # the services with their handlers
    pins = {p.read_text().splitlines()[-1] for p in generated.glob("services/*/requirements.txt")}
    assert pins == {f"planforge-runtime=={VERSION}"}
    options = dataclasses.replace(isolated, python=str(venv))
    progress = io.StringIO()
    with Stack(generated, options, out=progress) as stack, httpx.Client(timeout=10) as http:
        for name, child in stack.children.items():
            assert Path(f"/proc/{child.process.pid}/cmdline").read_bytes().split(b"\0")[0] == str(venv).encode()
            assert http.get(stack.service_url(name) + "/healthz").status_code == 200
            assert http.get(stack.service_url(name) + "/readyz").status_code == 200
        email = f"wheel-{uuid.uuid4().hex[:8]}@example.com"
        registered = http.post(
            stack.service_url("user-service") + "/users/register",
            json={"email": email, "password": "correct horse battery", "displayName": "Wheel Test"},
        )
        assert registered.status_code == 201, registered.text
        # auth-service can log the user in only once it consumed user.created (through RabbitMQ, the outbox
        # of user-service's PostgreSQL database) and stored the credentials in its own database.
        credentials = {"email": email, "password": "correct horse battery"}
        login = _eventually(http, stack.service_url("auth-service") + "/auth/login", credentials)
        assert login.status_code == 200, login.text
        assert login.json()["access_token"]


def test_a_plain_install_generates_the_examples_as_committed(
    venv: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    """Planforge's wheel and the runtime's, no extras: every example's owned files are byte for byte generated/."""
    _pip(venv, "install", "--quiet", "--no-compile", str(wheels["planforge"]), str(wheels["planforge_runtime"]))
    assert not _imports(venv, "planforge_testkit")
    assert not _imports(venv, "pytest")
    planforge_cli = venv.parent / "planforge"
    shutil.copytree(REPO / "examples", tmp_path / "examples")  # the same manifest path, relative to the output
    env = {**_clean_env(), "PLANFORGE_NO_CACHE": "1"}  # render everything in this venv, with its own packages
    for manifest in EXAMPLES:
        slug_dir = manifest.parent.name
        command = [str(planforge_cli), "generate", f"examples/{slug_dir}/feature.yaml", "-o", "generated"]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    for committed_index in sorted((REPO / "generated").glob("*/.planforge-index.json")):
        slug = committed_index.parent.name
        fresh = tmp_path / "generated" / slug
        owned = json.loads(committed_index.read_text(encoding="utf-8"))["files"]
        assert json.loads((fresh / ".planforge-index.json").read_text(encoding="utf-8"))["files"].keys() == owned.keys()
        paths = [*owned, ".planforge-index.json"]
        different = [p for p in paths if (fresh / p).read_bytes() != (committed_index.parent / p).read_bytes()]
        assert different == [], (slug, different)
    # The wheel ships the templates compiled (hatch_build.py), and this install renders with them.
    with zipfile.ZipFile(wheels["planforge"]) as wheel:
        assert "planforge/_compiled_templates/__init__.py" in wheel.namelist()
    where = "from planforge.templating import environment as e; print(e().get_template('broker/README.md.j2').filename)"
    shown = subprocess.run([str(venv), "-c", where], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "/planforge/_compiled_templates/" in shown.stdout, shown.stdout
    for command in (["validate", "examples/user-accounts/feature.yaml"], ["schema"]):
        done = subprocess.run([str(planforge_cli), *command], cwd=tmp_path, env=env, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
