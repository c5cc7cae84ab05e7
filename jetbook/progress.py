"""Progress for long loops that reads well wherever it goes.

A terminal or a notebook gets tqdm's bar. Anything else (`jetbook train > log`, a CI log, a
batch job) gets a plain line every `every_s` seconds and one at the end: tqdm would write a
carriage-return update there for every step, thousands of them in one line of the file.
"""
from __future__ import annotations

import sys
import time


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class PlainProgress:
    """tqdm's update / set_postfix / close, written as whole lines at most every `every_s`."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", every_s: float = 30.0,
                 file=None, unit: str = "it"):
        self.total, self.n, self.desc, self.every_s, self.unit = total, initial, desc, every_s, unit
        self.file = file if file is not None else sys.stderr
        self.postfix: dict = {}
        self._start_n, self._start = initial, time.monotonic()
        self._last = self._start
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._write(now)

    def set_postfix(self, postfix: dict | None = None, **values) -> None:
        self.postfix = {**(postfix or {}), **values}

    def set_postfix_str(self, text: str) -> None:
        self.postfix = {"at": text}

    def write(self, text: str) -> None:
        """A message of its own, as tqdm.write gives one beside the bar."""
        print(text, file=self.file, flush=True)

    def _write(self, now: float) -> None:
        self._last = now
        rate = (self.n - self._start_n) / max(now - self._start, 1e-9)
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.n}/{self.total}{share}, {rate:.2f} {self.unit}/s, "
              f"{now - self._start:.0f} s{extra}", file=self.file, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._write(time.monotonic())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_bar(total: int, initial: int = 0, desc: str = "", disable: bool = False,
                 every_s: float = 30.0, file=None, unit: str = "it"):
    """tqdm in a terminal or a notebook, PlainProgress elsewhere; `disable` shows nothing."""
    stream = file if file is not None else sys.stderr
    if disable or (getattr(stream, "isatty", lambda: False)() or _in_notebook()):
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, disable=disable, dynamic_ncols=True,
                    file=file, unit=unit)
    return PlainProgress(total, initial, desc, every_s, stream, unit)
