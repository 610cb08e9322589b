"""The cluster behind the fleet emulator: machines, units, unit states and heartbeats (fleet's registry),
the engine that schedules units and the agents that run them, as a background loop.

The engine places each unit on the least loaded eligible machine (ties by machine ID), honouring
``MachineID``, ``MachineOf``, ``MachineMetadata`` (pairs on one line ANDed, repeated keys ORed),
``Conflicts`` (from either side) and ``Global``. The agents report what systemd would: ``loaded`` /
``activating`` / ``start-pre`` while ExecStartPre runs, ``active`` / ``running`` (and a heartbeat, so
the unit's currentState is ``launched``), ``activating`` / ``auto-restart`` after a crash with
``Restart=on-failure`` (restarted after ``restart_delay``), ``failed`` once ``start_limit`` starts in a
row have failed (systemd's StartLimitBurst), ``deactivating`` until ExecStop finishes; a deleted unit's state goes
``unload_delay`` after it stopped, as fleet's agents unload units asynchronously. With ``auto`` off
nothing moves by itself: a test drives the registry by hand (``schedule``, ``report_state``,
``heartbeat``), as fleet's recording did.
"""
from __future__ import annotations

import fnmatch
import hashlib
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.fleet_runners import Exited, FakeRunner, Handle, Runner, option_values


def unit_hash(options: list[dict[str, str]]) -> str:
    """SHA1 of the unit file as fleet serializes it: sections in first-seen order."""
    sections: dict[str, list[str]] = {}
    for opt in options:
        sections.setdefault(opt.get("section", ""), []).append(f"{opt.get('name', '')}={opt.get('value', '')}\n")
    text = "\n".join(f"[{name}]\n" + "".join(lines) for name, lines in sections.items())
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Machine:
    id: str
    primary_ip: str
    metadata: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "primaryIP": self.primary_ip}
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class Unit:
    name: str
    options: list[dict[str, str]]
    desired: str
    target: str | None = None    # scheduled machine (never set for global units)

    @property
    def hash(self) -> str:
        return unit_hash(self.options)

    def xfleet(self, name: str) -> list[str]:
        return option_values(self.options, "X-Fleet", name)

    @property
    def is_global(self) -> bool:
        return any(v.strip().lower() in ("true", "1", "yes") for v in self.xfleet("Global"))

    @property
    def is_template(self) -> bool:
        return self.name.split(".")[0].endswith("@")


@dataclass
class UnitState:
    load: str
    active: str
    sub: str
    hash: str


@dataclass
class _Slot:
    """A unit started on a machine by its agent."""

    handle: Handle
    hash: str
    restart_at: float | None = None
    failures: int = 0       # failed starts in a row (systemd's start limit)
    done: bool = False      # exited for good: no more restarts


class Cluster:
    """fleet's registry, engine and agents. Every field is guarded by ``lock``."""

    def __init__(self, *, auto: bool = True, runner: Runner | None = None, tick: float = 0.05,
                 unload_delay: float = 0.1, restart_delay: float = 0.1, start_limit: int = 5):
        self.runner = runner or FakeRunner()
        self.tick, self.unload_delay, self.restart_delay = tick, unload_delay, restart_delay
        self.start_limit = start_limit
        self.machines: dict[str, Machine] = {}
        self.units: dict[str, Unit] = {}
        self.states: dict[tuple[str, str], UnitState] = {}
        self.heartbeats: dict[str, str] = {}
        self.lock = threading.RLock()
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._unloading: dict[tuple[str, str], float] = {}
        self._stopping: set[tuple[str, str]] = set()   # ExecStop still running
        self._stop = threading.Event()
        self._jobs: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        if auto:
            self._loop = threading.Thread(target=self._run, daemon=True, name="fleet-emulator")
            self._loop.start()

    # -- cluster control ------------------------------------------------------------------------

    def add_machine(self, machine_id: str, primary_ip: str = "127.0.0.1", **metadata: str) -> Machine:
        with self.lock:
            machine = self.machines[machine_id] = Machine(machine_id, primary_ip, dict(metadata))
            return machine

    def schedule(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.units[unit].target = machine_id

    def report_state(self, unit: str, machine_id: str, load: str, active: str, sub: str, hash: str = "") -> None:
        with self.lock:
            known = self.units.get(unit)
            self.states[(unit, machine_id)] = UnitState(load, active, sub, hash or (known.hash if known else ""))

    def heartbeat(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.heartbeats[unit] = machine_id

    def crash(self, unit: str) -> None:
        """Fault injection: the unit's process dies with status 1 (systemd restarts it after
        ``restart_delay`` when the unit says ``Restart=on-failure``)."""
        with self.lock:
            for key, slot in self._slots.items():
                if key[0] == unit:
                    threading.Thread(target=slot.handle.stop, daemon=True).start()
                    slot.handle = Exited(1)

    def drop_state(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.states.pop((unit, machine_id), None)

    def current_state(self, unit: Unit) -> str:
        if unit.target is None or (unit.name, unit.target) not in self.states:
            return "inactive"
        return "launched" if self.heartbeats.get(unit.name) == unit.target else "loaded"

    def close(self) -> None:
        """Stop the loop, then every unit still running (their ExecStop lines run to the end)."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(5)
        with self.lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            slot.handle.stop()
        for job in self._jobs:
            job.join(60)

    # -- engine and agents ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            with self.lock:
                self._reconcile_engine()
                work = self._reconcile_agents()
            for job in work:
                thread = threading.Thread(target=job, daemon=True)
                thread.start()
                self._jobs.append(thread)

    def _reconcile_engine(self) -> None:
        for unit in sorted(self.units.values(), key=lambda u: u.name):
            if unit.is_global or unit.is_template:
                continue
            if unit.desired == "inactive":
                unit.target = None
            elif unit.target is None or unit.target not in self.machines:
                unit.target = self._place(unit)

    def _eligible(self, unit: Unit, machine: Machine) -> bool:
        pinned = unit.xfleet("MachineID")
        if pinned and machine.id not in pinned:
            return False
        for peer in unit.xfleet("MachineOf"):
            other = self.units.get(peer)
            if other is None or other.target != machine.id:
                return False
        wanted: dict[str, set[str]] = {}
        for line in unit.xfleet("MachineMetadata"):
            for pair in shlex.split(line):
                key, _, value = pair.partition("=")
                wanted.setdefault(key, set()).add(value)
        if any(machine.metadata.get(key) not in values for key, values in wanted.items()):
            return False
        mine = unit.xfleet("Conflicts")
        for other in self.units.values():
            if other.name == unit.name or other.target != machine.id:
                continue
            if any(fnmatch.fnmatchcase(other.name, g) for g in mine) or \
                    any(fnmatch.fnmatchcase(unit.name, g) for g in other.xfleet("Conflicts")):
                return False
        return True

    def _place(self, unit: Unit) -> str | None:
        load = {m: 0 for m in self.machines}
        for other in self.units.values():
            if other.target in load:
                load[other.target] += 1
        eligible = [m for m in sorted(self.machines) if self._eligible(unit, self.machines[m])]
        return min(eligible, key=lambda m: (load[m], m)) if eligible else None

    def _assignments(self) -> dict[tuple[str, str], Unit]:
        out: dict[tuple[str, str], Unit] = {}
        for unit in self.units.values():
            if unit.is_template or unit.desired == "inactive":
                continue
            if unit.is_global:
                for machine in self.machines.values():
                    if self._eligible(unit, machine):
                        out[(unit.name, machine.id)] = unit
            elif unit.target is not None:
                out[(unit.name, unit.target)] = unit
        return out

    def _reconcile_agents(self) -> list[Callable[[], None]]:
        """Move every (unit, machine) one step; returns slow work (stopping) to do unlocked."""
        now = time.monotonic()
        work: list[Callable[[], None]] = []
        wanted = self._assignments()
        for key, slot in list(self._slots.items()):
            unit = wanted.get(key)
            if unit is None or unit.desired != "launched" or unit.hash != slot.hash:
                del self._slots[key]
                self._lose_heartbeat(key)
                self._stopping.add(key)
                work.append(lambda key=key, handle=slot.handle: self._stop_slot(key, handle))
                state = self.states.get(key)
                if state is not None:
                    self.states[key] = UnitState("loaded", "deactivating", "stop-sigterm", state.hash)
        for key, unit in wanted.items():
            self._unloading.pop(key, None)
            if key in self._stopping:
                continue
            if unit.desired == "loaded":
                self.states[key] = UnitState("loaded", "inactive", "dead", unit.hash)
            else:
                self._launch(key, unit, now)
        for key in list(self.states):
            if key in wanted or key in self._stopping:
                continue
            due = self._unloading.setdefault(key, now + self.unload_delay)
            if now >= due:   # the agent has unloaded the unit: its state goes away
                del self.states[key]
                del self._unloading[key]
        return work

    def _stop_slot(self, key: tuple[str, str], handle: Handle) -> None:
        """systemd runs ExecStop; only then does the agent report the unit dead (or unload it)."""
        try:
            handle.stop()
        finally:
            with self.lock:
                self._stopping.discard(key)
                state = self.states.get(key)
                if state is not None:
                    self.states[key] = UnitState("loaded", "inactive", "dead", state.hash)

    def _lose_heartbeat(self, key: tuple[str, str]) -> None:
        if self.heartbeats.get(key[0]) == key[1]:
            del self.heartbeats[key[0]]

    def _launch(self, key: tuple[str, str], unit: Unit, now: float) -> None:
        """Start the unit on its machine if it is not running, and report what systemd would."""
        slot = self._slots.get(key)
        if slot is None:
            handle = self.runner.start(unit.name, self.machines[key[1]], unit.options)
            self._slots[key] = slot = _Slot(handle, unit.hash)
        if slot.done:
            return
        if slot.restart_at is not None:
            if now < slot.restart_at:
                return
            slot.handle = self.runner.start(unit.name, self.machines[key[1]], unit.options)
            slot.restart_at = None
        status, code = slot.handle.status()
        if status == "running":
            slot.failures = 0
            self.states[key] = UnitState("loaded", "active", "running", unit.hash)
            self.heartbeats[unit.name] = key[1]
            return
        if status == "starting":
            self.states[key] = UnitState("loaded", "activating", "start-pre", unit.hash)
            return
        self._lose_heartbeat(key)
        if code == 0:
            self.states[key] = UnitState("loaded", "inactive", "dead", unit.hash)
            slot.done = True
            return
        slot.failures += 1
        if "on-failure" in option_values(unit.options, "Service", "Restart") and slot.failures < self.start_limit:
            self.states[key] = UnitState("loaded", "activating", "auto-restart", unit.hash)
            slot.restart_at = now + self.restart_delay
        else:   # no restart, or systemd's start limit hit: the unit stays failed
            self.states[key] = UnitState("loaded", "failed", "failed", unit.hash)
            slot.done = True
