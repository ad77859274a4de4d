"""Progress of long steps on stderr, the one helper every long step uses (training, extractor
training, sampling, scoring, export, front-end fits).

On a terminal it draws a tqdm bar. Elsewhere (a log file, a pipe, a scheduled flow, CI) it
writes one line every few seconds, `<what>: <done>/<total> <unit> (<pct>%), <rate>/s,
<elapsed> elapsed, <left> left`, and a last line when the step ends, so a long run is never
silent in a log. stdout is never touched (it stays clean for --json). `ganflow --quiet` (or
GANFLOW_QUIET=1) silences it.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO, Any

# seconds between two log lines when stderr is not a terminal (GANFLOW_PROGRESS_EVERY_S)
LOG_EVERY_S = float(os.environ.get("GANFLOW_PROGRESS_EVERY_S", 5.0))


def quiet() -> bool:
    return os.environ.get("GANFLOW_QUIET", "") not in ("", "0")


def set_quiet(on: bool) -> None:
    """Silence (or restore) progress in this process and the steps it starts."""
    os.environ["GANFLOW_QUIET"] = "1" if on else "0"


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


class Progress:
    """with Progress("train gan seed 0", total=1300, unit="step") as p: p.update(1, loss=...)"""

    def __init__(self, what: str, total: int | None, unit: str = "it", initial: int = 0,
                 stream: IO[str] | None = None, every_s: float | None = None,
                 budget_s: float | None = None) -> None:  # fmt: skip
        """budget_s: the work stops after this many seconds whatever is left (a time budget):
        the time left is the sooner of that and the steps left at the current rate."""
        self.what, self.total, self.unit, self.n = what, total, unit, initial
        self.budget_s = budget_s
        self.stream = stream or sys.stderr
        self.every_s = LOG_EVERY_S if every_s is None else every_s
        self.t0, self.initial = time.monotonic(), initial
        self.last_line = self.t0
        self.postfix: dict[str, Any] = {}
        self.off = quiet()
        self.bar = None
        if not self.off and self._isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=what, unit=unit, file=self.stream,
                            dynamic_ncols=True, leave=False)  # fmt: skip

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.n += n
        if postfix:
            self.postfix = postfix
        if self.off:
            return
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: _fmt(v) for k, v in postfix.items()}, refresh=False)
            return
        now = time.monotonic()
        if now - self.last_line >= self.every_s:
            self.last_line = now
            self._line(now)

    def line(self) -> str:
        """The log line for the progress so far."""
        now = time.monotonic()
        elapsed = now - self.t0
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.what}: {self.n}"]
        if self.total:
            parts[0] += f"/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{rate:.1f} {self.unit}/s" if rate < 100 else f"{rate:.0f} {self.unit}/s")
        parts.append(f"{_duration(elapsed)} elapsed")
        if self.total and rate > 0 and self.n < self.total:
            left = (self.total - self.n) / rate
            if self.budget_s is not None and self.budget_s - elapsed < left:
                left = max(0.0, self.budget_s - elapsed)
                parts.append(f"{_duration(left)} left (time budget)")
            else:
                parts.append(f"{_duration(left)} left")
        parts += [f"{k} {_fmt(v)}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _line(self, now: float) -> None:
        print(self.line(), file=self.stream, flush=True)

    def close(self, done: bool = True) -> None:
        if self.off:
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if done:
            self.what += " done" if self.total is None or self.n >= self.total else " stopped"
        print(self.line(), file=self.stream, flush=True)
        self.off = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close(done=True)
            return
        # an error ends the work: its own line says what went wrong, no progress line beside it
        self.off, bar, self.bar = True, self.bar, None
        if bar is not None:
            bar.close()


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def say(line: str) -> None:
    """One line on stderr (not with --quiet): a choice made or a result worth a log line."""
    if not quiet():
        print(line, file=sys.stderr, flush=True)


def announced(what: str, fn: Any, *args: Any) -> Any:
    """fn(*args), with a line on stderr before and after (for a step of a minute or so with no
    natural unit of progress)."""
    say(f"{what} ...")
    t0 = time.monotonic()
    out = fn(*args)
    say(f"{what}: done in {_duration(time.monotonic() - t0)}")
    return out


class StepProgress:
    """An engine callback (models.engine.Callback) that reports its fit's steps."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.p = what, total, None

    def on_step(self, step: int, logs: dict[str, float]) -> bool:
        if self.p is None:
            self.p = Progress(self.what, self.total, "step", initial=step - 1)
        self.p.update(1)
        return False

    def on_end(self, step: int, ok: bool) -> None:
        if self.p is not None:
            self.p.close(done=ok)
