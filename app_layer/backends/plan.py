"""The rollout planner: from what runs and what should run, decide what to start, keep, stop and clear.

Pure data in, pure data out, so a deploy, a scale, a resumed rollout and the replacement of a
crashed process are all the same decision, and it is unit-tested without an engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ONE_OFF = "run"


@dataclass(frozen=True)
class Observed:
    """One process of the app as the engine reports it."""

    id: str
    version: int
    type: str
    num: int
    running: bool
    draining: bool = False


@dataclass
class Plan:
    keep: list[Observed] = field(default_factory=list)          # already right: leave alone
    start: list[tuple[str, int]] = field(default_factory=list)   # (type, num) of the new release
    retire: list[Observed] = field(default_factory=list)        # running: stop once the new ones are healthy
    clear: list[Observed] = field(default_factory=list)         # not running: remove now (frees names)

    @property
    def changes(self) -> bool:
        return bool(self.start or self.retire or self.clear)


def slots(formation: dict[str, int]) -> list[tuple[str, int]]:
    """``{"web": 2, "worker": 1}`` -> ``[("web", 1), ("web", 2), ("worker", 1)]``."""
    return [(ptype, num) for ptype, count in sorted(formation.items()) for num in range(1, max(count, 0) + 1)]


def plan(observed: list[Observed], version: int, formation: dict[str, int]) -> Plan:
    """What to do so that exactly ``formation`` processes of release ``version`` run."""
    wanted = slots(formation)
    result = Plan()
    kept: set[tuple[str, int]] = set()
    for proc in sorted(observed, key=lambda p: (p.type, p.num, p.id)):
        slot = (proc.type, proc.num)
        if proc.type == ONE_OFF:
            if not proc.running:
                result.clear.append(proc)
        elif not proc.running:
            result.clear.append(proc)
        elif proc.version == version and not proc.draining and slot in wanted and slot not in kept:
            kept.add(slot)
            result.keep.append(proc)
        else:
            result.retire.append(proc)
    result.start = [slot for slot in wanted if slot not in kept]
    return result
