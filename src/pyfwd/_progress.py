"""Plain-text progress bars on stderr (no dependency): :class:`Progress` for
many units of work (the bench, ``pyfwd.tune``), :class:`EpochBar` for the steps
of one epoch of :meth:`Network.fit`. On a terminal each redraws one line;
otherwise (a log, CI, a notebook's captured stream) ``Progress`` prints a line
every few seconds and ``EpochBar`` only each epoch's final line."""
from __future__ import annotations

import sys
import time


class Progress:
    WIDTH = 30

    def __init__(self, total: int, enabled: bool = True, stream=None, every_s: float = 5.0) -> None:
        self.total, self.enabled = max(total, 1), enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done_n, self.start, self.every_s = 0, time.perf_counter(), every_s
        self._last_print = -1e9
        self._width = 0

    def _line(self, what: str) -> str:
        frac = min(self.done_n / self.total, 1.0)
        fill = int(frac * self.WIDTH)
        el = time.perf_counter() - self.start
        eta = f" eta {el / frac - el:4.0f}s" if frac > 0.02 else ""
        return f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {100 * frac:3.0f}% {el:4.0f}s{eta}  {what}"

    def _emit(self, line: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        elif force or now - self._last_print >= self.every_s:
            self.stream.write(line + "\n")
            self._last_print = now
        else:
            return
        self.stream.flush()

    def step(self, what: str) -> None:
        """Announce the next unit of work (counts the previous one as done)."""
        self._emit(self._line(what))
        self.done_n += 1

    def note(self, what: str) -> None:
        self._emit(self._line(what), force=True)

    def done(self) -> None:
        self.done_n = self.total
        self._emit(self._line("done"), force=True)
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


class EpochBar:
    WIDTH = 30

    def __init__(self, epoch: int, epochs: int, steps: int, enabled: bool = True, stream=None) -> None:
        self.head = f"epoch {epoch:>{len(str(epochs))}}/{epochs}"
        self.steps, self.enabled = max(steps, 1), enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def _line(self, done: int, what: str) -> str:
        fill = int(min(done / self.steps, 1.0) * self.WIDTH)
        el = time.perf_counter() - self.start
        return f"{self.head} [{'#' * fill}{'.' * (self.WIDTH - fill)}] {done}/{self.steps} {el:5.1f}s  {what}"

    def update(self, done: int, what: str) -> None:
        """Redraw after *done* steps (terminals only, at most 20 times a second)."""
        if not (self.enabled and self.tty):
            return
        now = time.perf_counter()
        if now - self._last < 0.05 and done < self.steps:
            return
        self._last = now
        self._write(self._line(done, what))

    def _write(self, line: str) -> None:
        pad = max(0, self._width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self._width = len(line)
        self.stream.flush()

    def finish(self, what: str) -> None:
        """The epoch's final line (every stream)."""
        if not self.enabled:
            return
        line = self._line(self.steps, what)
        if self.tty:
            self._write(line)
            self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
