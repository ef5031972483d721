"""The test world for every test: no network but loopback, W&B kept local and quiet, fakes always shut down."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.fakes.credentials import write_service_account
from tests.fakes.google_api import FakeGoogle
from tests.fakes.wandb_api import DEFAULT_KEY, FakeClock, FakeWandb, World

# Anything that slips past the fakes hits a closed local port instead of the internet.
DEAD_URL = "http://127.0.0.1:9"
QUIET_ENV = {
    "WANDB_SILENT": "true", "WANDB_CONSOLE": "off", "WANDB_DISABLE_CODE": "true", "WANDB_DISABLE_GIT": "true",
    "WANDB_ERROR_REPORTING": "false", "WANDB_BASE_URL": DEAD_URL, "WANDB_API_KEY": DEFAULT_KEY,
    "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9", "NO_GCE_CHECK": "True",
    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the long soak (1,000 rounds)")


ORIGINAL_ENV = dict(os.environ)  # before QUIET_ENV: the live test needs the real settings


# Generated inputs: the same examples on every run of `make test` (a property that found a new case on CI's draw
# alone would fail one run in many: a flaky test), fresh ones with --soak, where exploring is the point.
hypothesis_settings.register_profile("steady", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)


def pytest_configure(config: pytest.Config) -> None:
    hypothesis_settings.load_profile("explore" if config.getoption("--soak") else "steady")
    config.addinivalue_line("markers", "live: needs real W&B and Google credentials (skipped without them)")
    config.addinivalue_line("markers", "docker: builds and runs the Docker image")
    os.environ.update(QUIET_ENV)
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    os.environ.pop("GOOGLE_API_ENDPOINT", None)
    os.environ.pop("GCP_JSON", None)


_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
STRAY: list[str] = []  # every attempt to leave the machine, from any thread


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_only(self: socket.socket, address) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        STRAY.append(str(address[0]))
        raise ConnectionRefusedError(f"tests may not reach {address[0]}: only loopback fakes are allowed")
    return _real_connect(self, address)


def _resolve_loopback_only(host, *args, **kw):
    if host is not None and not _is_loopback(str(host)):
        STRAY.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {host}: only loopback fakes are allowed")
    return _real_getaddrinfo(host, *args, **kw)


@pytest.fixture(autouse=True)
def no_network(request, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Python code in tests can only reach 127.0.0.1 (a test that tries anything else fails);
    W&B writes only under a temp folder. Only tests marked `live` (opt-in, skipped by default) may go out."""
    if request.node.get_closest_marker("live"):
        yield
        return
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", _resolve_loopback_only)
    home = tmp_path_factory.mktemp("wandb-home")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(home))
    monkeypatch.setenv("NETRC", str(home / "netrc"))
    # Google credentials a developer has on this machine (gcloud's ADC file, a --login token) stay out of tests.
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    STRAY.clear()
    yield
    assert STRAY == [], f"the test tried to reach the network: {STRAY}"


@pytest.fixture
def google() -> FakeGoogle:
    """A running fake Google; fails the test if any request broke the discovery document or crashed it."""
    with FakeGoogle() as server:
        yield server
        assert server.world.violations == [], "requests broke the Sheets v4 discovery document"
        assert server.world.crashes == [], server.world.crashes


@pytest.fixture
def key_file(google: FakeGoogle, tmp_path: Path) -> Path:
    """A service-account JSON with a fresh RSA key, trusted by the fake, token_uri pointing at it."""
    path = tmp_path / "service-account.json"
    info = write_service_account(path, google.token_uri)
    google.register_service_account(info)
    return path


@pytest.fixture
def wandb_fake(monkeypatch: pytest.MonkeyPatch) -> FakeWandb:
    """A running fake W&B on the test's clock, not the machine's: the stamps it gives changes, and so the pages a
    sync reads, are the same on every machine whatever its load."""
    with FakeWandb(World(clock=FakeClock())) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        yield server
        assert server.world.crashes == [], server.world.crashes
