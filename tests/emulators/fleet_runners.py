"""What a fleet unit does on its machine, for the fleet emulator: systemd's command-line rules and
the runners that stand for systemd starting and stopping a unit.

``FakeRunner`` runs nothing (units start, hang or fail by name pattern); ``DockerRunner`` runs a unit's
``ExecStartPre``/``ExecStart``/``ExecStop`` lines, split by systemd's rules into argv (never through a
shell), against the real dockerd, so an end-to-end test sees real containers.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import threading
import time
from typing import Protocol

ALIASES = {"X-ConditionMachineID": "MachineID", "X-ConditionMachineOf": "MachineOf",
           "X-ConditionMachineMetadata": "MachineMetadata", "X-Conflicts": "Conflicts"}


class Machine(Protocol):
    id: str
    primary_ip: str


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "s": " ", "$": "$"}


def systemd_split(line: str) -> list[str]:
    """Split an ``Exec*=`` value into argv the way systemd does (``systemd.service(5)``, "Command lines"):
    words separated by whitespace, double and single quotes, C escapes, ``$$`` -> ``$`` and
    ``%%`` -> ``%``. Leading ``-``/``@``/``+`` prefixes are left to the caller. Variable and specifier
    expansion is not emulated: an unescaped ``$`` or ``%`` is an error, so a unit that would have
    systemd expand a user's value fails the test instead of passing by accident."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] in " \t":
            i += 1
            continue
        word, i = _word(line, i)
        words.append(word)
    return words


def _word(line: str, i: int) -> tuple[str, int]:
    """The word starting at ``line[i]`` and the index after it."""
    word: list[str] = []
    quote = ""
    n = len(line)
    while i < n and (quote or line[i] not in " \t"):
        char = line[i]
        if char in "\"'" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "\\" and i + 1 < n:
            if line[i + 1] == "x":
                word.append(chr(int(line[i + 2:i + 4], 16)))
                i += 2
            else:
                word.append(_ESCAPES.get(line[i + 1], line[i + 1]))
            i += 1
        elif char in "$%" and line[i + 1:i + 2] == char:
            word.append(char)
            i += 1
        elif char in "$%":
            raise ValueError(f"the emulator does not expand {char!r} in {line!r}")
        else:
            word.append(char)
        i += 1
    if quote:
        raise ValueError(f"unbalanced quotes in {line!r}")
    return "".join(word), i


def option_values(options: list[dict[str, str]], section: str, name: str) -> list[str]:
    return [o.get("value", "") for o in options
            if o.get("section") == section and ALIASES.get(o.get("name", ""), o.get("name")) == name]




class Handle:
    """One started unit on one machine."""

    def status(self) -> tuple[str, int | None]:
        """``("starting", None)``, ``("running", None)`` or ``("exited", code)``."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Runner:
    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        raise NotImplementedError


class _FakeHandle(Handle):
    def __init__(self, outcome: str, ready_at: float):
        self.outcome, self.ready_at, self.stopped = outcome, ready_at, False

    def status(self) -> tuple[str, int | None]:
        if self.stopped:
            return "exited", 0
        if self.outcome == "hang" or time.monotonic() < self.ready_at:
            return "starting", None
        if self.outcome == "fail":
            return "exited", 1
        return "running", None

    def stop(self) -> None:
        self.stopped = True


class Exited(Handle):
    def __init__(self, code: int):
        self.code = code

    def status(self) -> tuple[str, int | None]:
        return "exited", self.code

    def stop(self) -> None:
        pass


class FakeRunner(Runner):
    """Units run without running anything: they start after ``start_delay`` seconds, except those whose
    name matches a glob in ``hang`` (stuck in ExecStartPre for ever) or ``fail`` (exit with status 1)."""

    def __init__(self, start_delay: float = 0.05):
        self.start_delay = start_delay
        self.hang: set[str] = set()
        self.fail: set[str] = set()
        self.started: list[tuple[str, str]] = []   # (unit, machine id), in order

    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        self.started.append((unit, machine.id))
        outcome = ("hang" if any(fnmatch.fnmatchcase(unit, g) for g in self.hang)
                   else "fail" if any(fnmatch.fnmatchcase(unit, g) for g in self.fail) else "ok")
        return _FakeHandle(outcome, time.monotonic() + self.start_delay)


def _executable(argv: list[str]) -> list[str]:
    """systemd needs absolute paths; this host may keep a tool elsewhere than the unit says."""
    if argv and not os.path.exists(argv[0]):
        found = shutil.which(os.path.basename(argv[0]))
        if found:
            return [found, *argv[1:]]
    return argv


def _command(value: str) -> tuple[list[str], bool]:
    """An ``Exec*=`` value -> (argv, failure ignored)."""
    ignore = False
    while value[:1] in ("-", "@", "+", "!"):
        ignore = ignore or value[0] == "-"
        value = value[1:]
    return _executable(systemd_split(value)), ignore


class _DockerHandle(Handle):
    def __init__(self, options: list[dict[str, str]], timeout: float):
        self.pre = [_command(v) for v in option_values(options, "Service", "ExecStartPre")]
        self.main = [_command(v) for v in option_values(options, "Service", "ExecStart")][0][0]
        self.stops = [_command(v) for v in option_values(options, "Service", "ExecStop")]
        self.container = self.main[self.main.index("--name") + 1] if "--name" in self.main else ""
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed: int | None = None
        self.seen_running = False
        self.stopping = False
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        for argv, ignore in self.pre:
            if self.stopping:
                return
            rc = subprocess.run(argv, capture_output=True, timeout=self.timeout).returncode
            if rc and not ignore:
                self.failed = rc
                return
        if not self.stopping:
            self.proc = subprocess.Popen(self.main, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def status(self) -> tuple[str, int | None]:
        if self.failed is not None:
            return "exited", self.failed
        if self.proc is None:
            return "starting", None
        code = self.proc.poll()
        if code is not None:
            return "exited", code
        if not self.seen_running:
            probe = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", self.container],
                                   capture_output=True, text=True, timeout=self.timeout)
            self.seen_running = probe.stdout.strip() == "true"
        return ("running", None) if self.seen_running else ("starting", None)

    def stop(self) -> None:
        self.stopping = True
        self._thread.join(self.timeout)
        for argv, _ignore in self.stops:
            subprocess.run(argv, capture_output=True, timeout=self.timeout)
        if self.proc is not None:
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DockerRunner(Runner):
    """Runs each unit's Exec lines (no shell: argv as systemd would build it) against the real dockerd."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout

    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        return _DockerHandle(options, self.timeout)
