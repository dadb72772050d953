"""A small progress bar on stderr (no dependency).

On a terminal it redraws one line; elsewhere (a log, CI) it prints a line every 10%.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, stream=None, enabled: bool = True, width: int = 28):
        self.total = max(total, 1)
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.width = width
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.status = ""
        self._last_decile = -1
        self._line = ""

    def _text(self) -> str:
        fraction = self.done / self.total
        filled = int(self.width * fraction)
        elapsed = time.perf_counter() - self.start
        eta = f", ~{format_duration(elapsed / fraction * (1 - fraction))} left" if 0 < fraction < 1 else ""
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"[{bar}] {fraction:4.0%} {self.done}/{self.total}  {format_duration(elapsed)} elapsed{eta}"
                f"  {self.status}")

    def _draw(self) -> None:
        if not self.enabled:
            return
        text = self._text()
        if self.tty:
            columns = 120
            try:
                import shutil
                columns = shutil.get_terminal_size((120, 20)).columns
            except Exception:       # pragma: no cover - no terminal size
                pass
            text = text[: columns - 1]
            self.stream.write("\r" + text + " " * max(0, len(self._line) - len(text)))
            self._line = text
        else:
            decile = int(10 * self.done / self.total)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, status: str | None = None, advance: int = 1) -> None:
        """Count `advance` finished steps; `status` says what runs next."""
        self.done = min(self.total, self.done + advance)
        if status is not None:
            self.status = status
        self._draw()

    def set_status(self, status: str) -> None:
        self.status = status
        if self.tty:
            self._draw()

    def write(self, message: str) -> None:
        """A message above the bar."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + " " * len(self._line) + "\r")
            self._line = ""
        self.stream.write(message + "\n")
        self._draw() if self.tty else self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
