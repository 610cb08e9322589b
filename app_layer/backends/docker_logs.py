"""Process output that outlives its container: a per-app archive file, and Docker's log line format.

Before the Docker backend removes a container it appends the container's output to
``<data_dir>/logs/<app>.log`` (one ``<epoch> <source> <message>`` line per output line), so
``logs`` can show what a replaced or crashed process printed. The file is capped in size.
"""
from __future__ import annotations

import calendar
import fcntl
import os
import threading
import time
from pathlib import Path

from app_layer.backends.base import LogLine

MAX_BYTES = 8 * 1024 * 1024  # an archive larger than this keeps its newest half
_lock = threading.Lock()


def parse_docker_line(raw: str, source: str) -> LogLine | None:
    """``2026-11-22T05:11:31.610540146Z message`` (``docker logs -t``) as a LogLine."""
    stamp, _, message = raw.partition(" ")
    if len(stamp) < 20 or stamp[10] != "T":
        return None
    try:
        whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    fraction = stamp[19:].rstrip("Z").split("+")[0]
    seconds = float(f"0{fraction}") if fraction.startswith(".") and fraction[1:].isdigit() else 0.0
    return LogLine(whole + seconds, source, message.rstrip("\r"))


def parse_docker_output(data: bytes, source: str) -> list[LogLine]:
    lines = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = parse_docker_line(raw, source)
        if line is not None:
            lines.append(line)
    return lines


class LogArchive:
    """Append-only, size-capped log files, one per app, under ``root``."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, app: str) -> Path:
        return self.root / f"{app}.log"

    def append(self, app: str, lines: list[LogLine]) -> None:
        if not lines:
            return
        text = "".join(f"{line.time:.6f} {line.source} {line.message}\n" for line in lines)
        with _lock:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.path(app)
            with open(path, "a", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # controller workers and the reconciler share the file
                fh.write(text)
                fh.flush()
                if fh.tell() > MAX_BYTES:
                    _keep_tail(path, MAX_BYTES // 2)

    def tail(self, app: str, count: int) -> list[LogLine]:
        """The last ``count`` archived lines of ``app``, oldest first."""
        if count <= 0:
            return []
        try:
            raw = _tail_bytes(self.path(app), count)
        except FileNotFoundError:
            return []
        out = []
        for text in raw.decode("utf-8", "replace").splitlines()[-count:]:
            stamp, _, rest = text.partition(" ")
            source, _, message = rest.partition(" ")
            try:
                out.append(LogLine(float(stamp), source, message))
            except ValueError:
                continue
        return out

    def remove(self, app: str) -> None:
        with _lock:
            try:
                self.path(app).unlink()
            except FileNotFoundError:
                pass


def _tail_bytes(path: Path, count: int, block: int = 65536) -> bytes:
    """The end of a file holding at least ``count`` complete lines (or the whole file)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        start = end
        data = b""
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - block)
            fh.seek(start)
            data = fh.read(end - start)
        if start > 0:
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        return data


def _keep_tail(path: Path, size: int) -> None:
    with open(path, "rb") as fh:
        fh.seek(-size, os.SEEK_END)
        data = fh.read()
    data = data.split(b"\n", 1)[1] if b"\n" in data else data
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
