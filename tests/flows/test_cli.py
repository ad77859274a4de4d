"""The console script's exit: main's code, the exit handlers and the running threads kept."""

import subprocess
import sys

SCRIPT = """
import atexit, sys, threading, time
from ganflow.flows import cli
atexit.register(lambda: print("exit handler ran", flush=True))
def late():
    time.sleep(0.5)
    print("thread finished", flush=True)
def main():  # a thread still running when main returns
    code = run_main()
    threading.Thread(target=late).start()
    return code
run_main, cli.main = cli.main, main
sys.argv = ["ganflow", *sys.argv[1:]]
cli.entry()
print("not reached")
"""


def _entry(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, timeout=120
    )


def test_entry_exits_with_mains_code_after_the_threads_and_exit_handlers():
    done = _entry("datasets", "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["thread finished", "exit handler ran"]
    assert "not reached" not in done.stdout


def test_entry_passes_on_a_usage_error():
    done = _entry("semi-supervised", "--no-prefect", "--labels-per-class", "many")
    assert done.returncode == 2
    assert "labels-per-class" in done.stderr and "Traceback" not in done.stderr
