"""The team deployment and the packaging: compose, .env.example, the settings and the README name
the same variables with the same defaults; `docker compose config` passes; the Dockerfile's
facts; the wheel carries the UI's pages; every imported package is a declared dependency; and a
SIGTERM to `support-agent ui` stops Streamlit (exec, no orphan).

There is no Docker engine here: the compose file is validated with `docker compose config` (or
Debian's `docker-compose config`, which scripts/test installs in CI), the image is not built.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from importlib.metadata import distributions, requires
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from agent.settings import Settings, load_settings, setting_variables
from agent.tools import registry

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
PYPROJECT = ROOT / "pyproject.toml"
SETTING_NAME = r"(?:SUPPORT|OPENAI)_[A-Z0-9_]+"
# Settings docker-compose.yml sets itself rather than taking them from .env.
WIRED_BY_COMPOSE = {"SUPPORT_SAVER", "SUPPORT_POSTGRES_URL", "SUPPORT_REDIS_URL"}
PASSTHROUGH = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")
HEALTH = "http://127.0.0.1:8501/_stcore/health"


# --- helpers ----------------------------------------------------------------------------------


def compose() -> dict:
    """docker-compose.yml as data."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def app_environment() -> dict[str, str]:
    """The environment every app instance gets (the `x-app` anchor)."""
    return {name: str(value) for name, value in compose()["x-app"]["environment"].items()}


def env_example_lines() -> dict[str, tuple[str, bool]]:
    """Each setting line of .env.example: name -> (value, whether it is commented out)."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(rf"^(#\s*)?({SETTING_NAME})=(.*)$", line)
        if match:
            found[match.group(2)] = (match.group(3), bool(match.group(1)))
    return found


def readme_section(title: str) -> str:
    """The text of one `## title` section of the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def readme_configuration_variables() -> set[str]:
    """The variables the README's Configuration table lists, one a row."""
    names = set()
    for line in readme_section("Configuration").splitlines():
        match = re.match(rf"^\|\s*`({SETTING_NAME})`\s*\|", line)
        if match:
            names.add(match.group(1))
    return names


def compose_binary() -> list[str] | None:
    """`docker compose` (v2) or `docker-compose` (v1), whichever runs here."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def streamlit_pids_on(port: int) -> list[int]:
    """PIDs of running Streamlit processes serving this port (by their command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        words = [word.decode(errors="replace") for word in argv]
        if "streamlit" in words and str(port) in words:
            pids.append(int(entry.name))
    return pids


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the same variables everywhere --------------------------------------------------------------


def test_compose_env_example_settings_and_readme_name_the_same_variables() -> None:
    """One set of variables: the settings', named by compose, .env.example and the README."""
    settings = set(setting_variables().values())
    in_compose = set(re.findall(rf"\b{SETTING_NAME}\b", COMPOSE.read_text(encoding="utf-8")))
    in_example = set(env_example_lines())
    in_readme = readme_configuration_variables()
    assert in_compose == settings, ("compose", in_compose ^ settings)
    assert in_example == settings, (".env.example", in_example ^ settings)
    assert in_readme == settings, ("README", in_readme ^ settings)


def test_compose_passes_on_what_env_example_sets_with_the_apps_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each `NAME: ${NAME:-default}` in compose is a line NAME=default in .env.example, and
    either default means the same as not setting the variable at all."""
    example = env_example_lines()
    passed = {}
    for name, value in app_environment().items():
        if name in WIRED_BY_COMPOSE:
            assert "${" not in value.replace("${POSTGRES_PASSWORD:-}", ""), name
            continue
        match = PASSTHROUGH.match(value)
        assert match and match.group("name") == name, f"{name}: {value}"
        passed[name] = match.group("default")
    uncommented = {name: value for name, (value, commented) in example.items() if not commented}
    assert passed == uncommented
    baseline = load_settings(saver="postgres")  # compose runs on PostgreSQL
    fields = {variable: field for field, variable in setting_variables().items()}
    for name, default in passed.items():
        monkeypatch.setenv(name, default)
        assert getattr(load_settings(saver="postgres"), fields[name]) == getattr(
            baseline, fields[name]), f"{name}={default!r} is not the app's default"
        monkeypatch.delenv(name)
    assert passed["SUPPORT_APPROVAL_REQUIRED"] == ",".join(registry.sensitive_names())


def test_env_example_as_a_dotenv_file_changes_nothing(tmp_path: Path) -> None:
    """Copied to .env (the app reads it too), the example is exactly the defaults."""
    # The autouse fixture has moved into tmp_path, where the app looks for .env.
    defaults = load_settings().model_dump()
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    assert load_settings().model_dump() == defaults


def test_readme_configuration_states_the_defaults() -> None:
    """The README's default column agrees with .env.example for every variable both show."""
    example = env_example_lines()
    for line in readme_section("Configuration").splitlines():
        match = re.match(rf"^\|\s*`({SETTING_NAME})`\s*\|\s*`([^`]*)`\s*\|", line)
        if match and match.group(1) in example:
            assert example[match.group(1)][0] == match.group(2), line


# --- docker compose -----------------------------------------------------------------------------


@pytest.fixture
def compose_command() -> list[str]:
    """The compose binary; in CI a missing one fails (scripts/test installs Debian's)."""
    binary = compose_binary()
    if binary is None:
        message = ("neither `docker compose` nor `docker-compose` is installed "
                   "(apt-get install docker-compose)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def run_compose_config(command: list[str], env_file: Path | None, project: Path = ROOT) -> dict:
    """`<compose> [--env-file F] -f docker-compose.yml config` in `project`, parsed."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_", "POSTGRES_", "COMPOSE_"))}
    env_args = ["--env-file", str(env_file)] if env_file else []
    done = subprocess.run([*command, *env_args, "-f", str(project / COMPOSE.name),
                           "--project-directory", str(project), "config"],
                          cwd=project, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_docker_compose_config_passes(compose_command: list[str], tmp_path: Path) -> None:
    """`docker compose config` accepts the file with .env.example as it is, and with no .env
    at all (a fresh checkout)."""
    rendered = run_compose_config(compose_command, ENV_EXAMPLE)
    assert {"app-1", "app-2", "postgres", "redis"} <= set(rendered["services"])
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)  # a folder with no .env in it
    bare = run_compose_config(compose_command, None, tmp_path)
    assert bare["services"]["app-1"]["environment"]["SUPPORT_MODEL"] == "offline"


def test_credentials_come_from_the_env_file(compose_command: list[str], tmp_path: Path) -> None:
    """POSTGRES_PASSWORD from .env reaches PostgreSQL and both apps' database URL, and the
    settings from .env reach both apps."""
    env_file = tmp_path / "team.env"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8")
                        .replace("POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=Team5ecret\n")
                        .replace("SUPPORT_MODEL=offline\n", "SUPPORT_MODEL=openai:gpt-4.1-mini\n"),
                        encoding="utf-8")
    services = run_compose_config(compose_command, env_file)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "Team5ecret"
    for app in ("app-1", "app-2"):
        environment = services[app]["environment"]
        assert environment["SUPPORT_POSTGRES_URL"] == (
            "postgresql://support:Team5ecret@postgres:5432/support")
        assert environment["SUPPORT_MODEL"] == "openai:gpt-4.1-mini"
        assert environment["SUPPORT_SAVER"] == "postgres"
    assert "Team5ecret" not in COMPOSE.read_text(encoding="utf-8")


def test_compose_runs_two_checked_replicas_on_pinned_images() -> None:
    """Two app instances of one image with a health check, on PostgreSQL and Redis at exact
    versions (no floating `postgres:15`)."""
    services = compose()["services"]
    apps = [services["app-1"], services["app-2"]]
    for app in apps:
        assert app["build"] == "." and app["image"] == apps[0]["image"]
        assert HEALTH in " ".join(app["healthcheck"]["test"])
        assert app["environment"]["SUPPORT_SAVER"] == "postgres"
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {a["ports"][0] for a in apps} == {"8501:8501", "8502:8501"}
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?(@sha256:[0-9a-f]{64})?",
                        services["postgres"]["image"])
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+(-\w+)?(@sha256:[0-9a-f]{64})?",
                        services["redis"]["image"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")


# --- the image -----------------------------------------------------------------------------------


def test_dockerfile_installs_dependencies_in_a_layer_before_the_code() -> None:
    """Only pyproject.toml is copied before the dependency install, the code after it."""
    instructions = dockerfile_instructions()
    kinds = [kind for kind, _ in instructions]
    install = next(i for i, (kind, args) in enumerate(instructions)
                   if kind == "RUN" and "pip install" in args)
    copied_before = [args for kind, args in instructions[:install] if kind == "COPY"]
    assert copied_before == ["pyproject.toml ./"]
    assert "streamlit[auth]" in instructions[install][1]
    code = [i for i, (kind, args) in enumerate(instructions)
            if kind == "COPY" and re.match(r"(agent|ui|exercises)\b", args)]
    assert len(code) == 3 and min(code) > install
    assert kinds.count("FROM") == 1


def test_dockerfile_dependency_list_is_pyprojects(tmp_path: Path) -> None:
    """The snippet that lists the dependencies really prints pyproject's, one a line."""
    [run] = [args for kind, args in dockerfile_instructions()
             if kind == "RUN" and "requirements.txt" in args and "tomllib" in args]
    snippet = re.search(r'python -c "(.+?)" > requirements\.txt', run)
    assert snippet, run
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    printed = subprocess.run([sys.executable, "-c", snippet.group(1)], cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert printed == tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]


def test_dockerfile_base_user_healthcheck_and_command() -> None:
    """Pinned base image, a non-root user, a health check on Streamlit's, exec-form command."""
    instructions = dockerfile_instructions()
    [base] = [args for kind, args in instructions if kind == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    users = [i for i, (kind, _) in enumerate(instructions) if kind == "USER"]
    assert users, "no USER: the app would run as root"
    user = instructions[users[-1]][1]
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert users[-1] > max(i for i, (kind, _) in enumerate(instructions) if kind == "RUN")
    [health] = [args for kind, args in instructions if kind == "HEALTHCHECK"]
    assert HEALTH in health
    [command] = [args for kind, args in instructions if kind == "CMD"]
    assert json.loads(command)[:2] == ["support-agent", "ui"]  # exec form: no shell in between


def test_dockerignore_keeps_secrets_and_venvs_out() -> None:
    """The build context leaves out .env, the secrets file and the virtualenvs."""
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".env", ".streamlit/secrets.toml", ".venv", ".git"} <= ignored


def test_gitignore_covers_local_state() -> None:
    """LangGraph Server's local state, .env and the OIDC secrets never get committed."""
    ignored = set((ROOT / ".gitignore").read_text(encoding="utf-8").split())
    assert {".langgraph_api/", ".env", ".streamlit/secrets.toml", ".venv-lowest/"} <= ignored


def test_wheel_carries_the_ui_pages(tmp_path: Path) -> None:
    """What `pip install .` (the image) gets includes ui/views/*.py, which are not a package."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in this venv")
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("building the wheel needs pip in this venv (a uv venv has none)")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "data", "test-artifacts", "build", "*.egg-info", "__pycache__",
        ".pytest_cache", ".ruff_cache", "tests", "docs", "bench", ".langgraph_api"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("support_agent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = {f"ui/views/{page.name}" for page in (ROOT / "ui" / "views").glob("*.py")}
    assert pages and pages <= names, pages - names
    assert {"ui/app.py", "ui/components/status.py", "agent/cli.py"} <= names


# --- declared dependencies ----------------------------------------------------------------------


def declared_distributions() -> set[str]:
    """pyproject's dependencies, with the packages their extras bring (psycopg[pool])."""
    declared = set()
    for spec in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        declared.add(normalized(requirement.name))
        for extra in requirement.extras:
            for needed in requires(requirement.name) or []:
                inner = Requirement(needed)
                if inner.marker and inner.marker.evaluate({"extra": extra}):
                    declared.add(normalized(inner.name))
    return declared


def module_owners() -> dict[str, str]:
    """Importable module path -> the distribution whose files hold it."""
    owners = {}
    for dist in distributions():
        for file in dist.files or []:
            parts = file.parts
            if not parts or not str(file).endswith(".py") or ".." in parts:
                continue
            module = ".".join(parts)[: -len(".py")].removesuffix(".__init__")
            owners.setdefault(module, normalized(dist.metadata["Name"]))
    return owners


def test_every_imported_package_is_a_declared_dependency() -> None:
    """The code imports only what pyproject declares (openai, typing_extensions, ormsgpack,
    langgraph-sdk... were imported without being declared)."""
    owners = module_owners()
    own = {"agent", "ui", "exercises", "bench"}  # the packages the wheel carries
    imported: dict[str, set[str]] = {}
    for folder in own:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in own or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    # The longest prefix a distribution holds: langgraph.checkpoint.* is
                    # langgraph-checkpoint's, langgraph.graph langgraph's.
                    prefixes = [".".join(module.split(".")[:n])
                                for n in range(module.count(".") + 1, 0, -1)]
                    owner = next((owners[p] for p in prefixes if p in owners), None)
                    imported.setdefault(owner or f"(not installed: {module})", set()).add(
                        str(path.relative_to(ROOT)))
    undeclared = {dist: sorted(files) for dist, files in imported.items()
                  if dist not in declared_distributions()}
    assert not undeclared, undeclared


def test_every_dependency_has_a_tested_lower_bound() -> None:
    """scripts/lower_bounds.py pins each dependency at its lower bound for scripts/test-lowest."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from lower_bounds import lower_bound_pins
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    pins = lower_bound_pins(PYPROJECT)
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert len(pins) >= len(dependencies)
    for spec, pin in zip(dependencies, pins, strict=False):
        assert Requirement(pin).name == Requirement(spec).name
        assert Requirement(spec).specifier.contains(pin.split("==")[1]), (spec, pin)


# --- `support-agent ui` and SIGTERM -------------------------------------------------------------


def test_sigterm_to_support_agent_ui_stops_streamlit(tmp_path: Path) -> None:
    """`support-agent ui` becomes Streamlit (exec): a SIGTERM to it leaves no server behind."""
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(SUPPORT_SAVER="sqlite", SUPPORT_SQLITE_PATH=str(tmp_path / "data" / "s.db"))
    command = [sys.executable, "-m", "agent.cli", "ui", "--port", str(port)]
    log = tmp_path / "ui.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                with opener.open(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)
        # The process we started is Streamlit now, not a parent waiting on it.
        assert streamlit_pids_on(port) == [process.pid], shlex.join(command)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        time.sleep(0.5)  # a child, had there been one, would still be up now
        assert streamlit_pids_on(port) == [], "a Streamlit server outlived the SIGTERM"
        assert f"support-agent UI on http://localhost:{port}" in log.read_text(errors="replace")
    finally:
        # Only what this test started: the process, and a server found on its unique port.
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for pid in streamlit_pids_on(port):
            os.kill(pid, signal.SIGKILL)


def test_settings_model_is_the_one_compose_documents() -> None:
    """Guard for the variable test: every Settings field maps to exactly one variable."""
    variables = setting_variables()
    assert set(variables) == set(Settings.model_fields)
    assert len(set(variables.values())) == len(variables)
