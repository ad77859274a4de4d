"""Prefect's temporary API server, started beside the command's own imports.

With no Prefect API configured, a flow starts a temporary server when it first runs: about
9 s here, half of it importing the server inside the command's process. `prestart` launches
the same server process (Prefect's own command line for it) as the command begins, so it
boots while torch and the flows are imported, and points PREFECT_API_URL at it; `ready`
waits for it before the flow runs. Nothing changes when an API is configured, with
--no-prefect, for `serve` (schedules need a real server) or for --help.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _last_line(log: Path | None) -> str:
    """The server log's last error line (what it died of), or ''."""
    try:
        lines = [ln.strip() for ln in log.read_text().splitlines() if ln.strip()] if log else []
    except OSError:
        return ""
    return next((ln for ln in reversed(lines) if not ln.startswith(("File ", "^", "~"))), "")[:300]


@dataclass
class TemporaryServer:
    process: subprocess.Popen
    url: str
    log: Path | None = None  # the server's own output (kept off the terminal)
    keep_log: bool = False  # when it failed: the log stays for the user to read

    def drop_log(self) -> None:
        if self.log is not None and not self.keep_log:
            self.log.unlink(missing_ok=True)

    def ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the server answers its health check; raise RuntimeError when it exits
        or does not answer in time (the flow cannot run without it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                last, self.keep_log = _last_line(self.log), True
                raise RuntimeError(
                    f"the temporary Prefect API server exited with code {self.process.returncode}"
                    + (f" ({last}; its log: {self.log})" if last else "")
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the temporary Prefect API server did not answer in {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api_configured() -> bool:
    """An API URL in the environment or in the active Prefect profile (read from the file:
    Prefect's settings, once loaded, would not see the URL set here)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a function for Popen's preexec_fn that has the kernel send the child
    SIGTERM when the process that started it dies, however it dies (a SIGKILL runs no exit
    handler, and the server would outlive it); None elsewhere (the exit handlers stop it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above: go now
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def prestart(argv: list[str], flow_commands: set[str]) -> TemporaryServer | None:
    """Start the temporary server for a flow command that will need one; None otherwise."""
    if not argv or argv[0] not in flow_commands or {"--no-prefect", "-h", "--help"} & set(argv):
        return None
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations or _api_configured():
        return None
    port = _free_port()
    log = Path(tempfile.gettempdir()) / f"ganflow-prefect-server-{os.getpid()}.log"
    log_file = open(log, "w")  # noqa: SIM115 (handed to the server process, closed here)
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, stdout=subprocess.DEVNULL, stderr=log_file, preexec_fn=_die_with_parent(),
    )  # fmt: skip
    log_file.close()
    server = TemporaryServer(process, f"http://127.0.0.1:{port}/api", log)
    atexit.register(server.drop_log)
    atexit.register(server.stop)
    os.environ["PREFECT_API_URL"] = server.url
    return server
