"""Progress an analyst can read: done / total, speed, ETA; a bar on a terminal, plain lines in a log.

One helper for ``emolive analyze`` (media seconds, speed in x real time), ``emolive eval`` and the trainers
(items, items per second). On a terminal it draws a tqdm bar; when the stream is not a terminal (a log file,
a pipe, a cluster worker) it writes one plain line every ``every_fraction`` of the total or every
``every_s`` seconds, whichever comes first, and a last line when it closes: no carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Progress of one task towards ``total`` (``unit="s"``: media seconds, speed shown as x real time).

    ``update(done)`` sets the amount done, ``advance(n)`` adds to it; ``close()`` ends the bar or writes the last
    line. ``tty`` forces the terminal/plain choice (default: ``stream.isatty()``); ``clock`` is for tests.
    ``start``: the amount done before this run (a resumed analysis): it counts as done, not towards the speed.
    """

    def __init__(self, total: float, desc: str = "", unit: str = "s", stream: IO[str] | None = None,
                 enabled: bool = True, tty: bool | None = None, position: int | None = None,
                 every_fraction: float = 0.1, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, start: float = 0.0) -> None:
        self.total, self.desc, self.unit = max(0.0, float(total)), desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.every_fraction, self.every_s = every_fraction, every_s
        self.clock = clock
        self.start = max(0.0, float(start))
        self.done = self.start
        self.note = ""  # shown after the speed, e.g. "loss 0.4120"
        self._started = clock()
        self._last_line_at = self._started
        self._last_line_fraction = self.start / self.total if self.total else 0.0
        self._last_line_done: float | None = None  # the amount the last plain line showed
        self._closed = False
        self._bar: Any = None
        is_tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        if enabled and is_tty:
            from tqdm import tqdm

            digits = 1 if unit == "s" else 0
            fmt = (f"{{desc}}: {{percentage:3.0f}}%|{{bar}}| {{n:.{digits}f}}/{{total:.{digits}f}} {unit} "
                   "[{elapsed}<{remaining}{postfix}]")
            self._bar = tqdm(total=self.total or None, desc=desc, file=self.stream, leave=position in (None, 0),
                             position=position, bar_format=fmt, dynamic_ncols=True, initial=self.start)

    # ------------------------------------------------------------------ figures
    @property
    def elapsed(self) -> float:
        return self.clock() - self._started

    @property
    def rate(self) -> float:
        """Units done by this run per second of wall-clock time (for media seconds: x real time)."""
        elapsed = self.elapsed
        return (self.done - self.start) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rate
        if rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def speed_text(self) -> str:
        speed = f"{self.rate:.2f}x real time" if self.unit == "s" else f"{self.rate:.1f} {self.unit}/s"
        if self.start:
            speed = f"resumed at {self.start:.1f} {self.unit}, {speed}"
        return f"{speed}, {self.note}" if self.note else speed

    def line(self) -> str:
        """The plain progress line, e.g. ``demo.mp4: 7.1/14.3 s (50%), 1.62x real time, ETA 4s``."""
        number = "{:.1f}" if self.unit == "s" else "{:.0f}"
        head = f"{self.desc}: " if self.desc else ""
        amount = f"{number.format(self.done)}/{number.format(self.total)} {self.unit}" if self.total else \
            f"{number.format(self.done)} {self.unit}"
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        eta = self.eta_s
        tail = f", ETA {_duration(eta)}" if eta is not None and self.done < self.total else \
            f", took {_duration(self.elapsed)}"
        return f"{head}{amount}{share}, {self.speed_text()}{tail}"

    # ------------------------------------------------------------------ updates
    def update(self, done: float) -> None:
        """Set the amount done so far (never goes back)."""
        done = min(max(self.done, float(done)), self.total) if self.total else max(self.done, float(done))
        if done == self.done or self._closed:
            return
        self.done = done
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(self.speed_text(), refresh=False)
            self._bar.refresh()
            return
        now = self.clock()
        fraction = done / self.total if self.total else 0.0
        if (self.total and fraction - self._last_line_fraction >= self.every_fraction - 1e-9) or \
                now - self._last_line_at >= self.every_s:
            self._write()

    def advance(self, amount: float = 1.0) -> None:
        self.update(self.done + amount)

    def _write(self) -> None:
        self._last_line_at = self.clock()
        self._last_line_fraction = self.done / self.total if self.total else 0.0
        self._last_line_done = self.done
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.done > 0 and self._last_line_fraction < 1.0 and self.done != self._last_line_done:
            # the last line, unless the one shown already says it (a run that ended early)
            self._write()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], desc: str = "", unit: str = "items", total: int | None = None,
          stream: IO[str] | None = None, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` with a Progress of one unit per item (a drop-in for ``tqdm(items)``)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    with Progress(total, desc=desc, unit=unit, stream=stream, enabled=enabled) as progress:
        for item in items:
            yield item
            progress.advance()
