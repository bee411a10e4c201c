"""A plain-text progress bar on stderr for :meth:`Network.fit` (no dependency; the
house style of ``bench/progress.py``). On a terminal it redraws one line per epoch;
otherwise (a log, CI, a notebook's captured stream) it prints only each epoch's
final line."""
from __future__ import annotations

import sys
import time


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
