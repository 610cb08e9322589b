"""The publisher's decision: which processes are routed, and what changes reach the registry."""
from __future__ import annotations

from app_layer.backends.base import Process, State
from app_layer.routing.publisher import desired_routes, plan
from app_layer.routing.registry import Route


def proc(version: int, num: int = 1, type_: str = "web", state: State = State.UP, healthy: bool | None = True,
         port: int | None = None, app: str = "shop") -> Process:
    return Process(app, version, type_, num, state, healthy, "127.0.0.1", port or 5000 + version * 10 + num)


def test_routes_the_healthy_web_and_cmd_processes_of_the_current_release() -> None:
    procs = [proc(3, 1), proc(3, 2, healthy=False), proc(3, 1, type_="worker"), proc(3, 1, type_="cmd"),
             proc(3, 3, state=State.STARTING), proc(3, 4, healthy=None), proc(2, 1),
             proc(1, 1, app="gone")]
    routes = desired_routes(procs, {"shop": 3}, require_health=True)
    assert [(r.process, r.release) for r in routes] == [("cmd.1", 3), ("web.1", 3)]
    # a backend without health checks: "not checked" is good enough
    assert "web.4" in {r.process for r in desired_routes(procs, {"shop": 3}, require_health=False)}


def test_during_a_rollout_the_new_release_takes_over_once_healthy() -> None:
    old = [proc(3, 1), proc(3, 2)]
    assert {r.release for r in desired_routes([*old, proc(4, 1, healthy=False)], {"shop": 3}, True)} == {3}
    routes = desired_routes([*old, proc(4, 1), proc(4, 2, healthy=False)], {"shop": 3}, True)
    assert [(r.process, r.release) for r in routes] == [("web.1", 4)]  # old ones leave before they stop
    # a rollback deploys an old build as a new release number, so "older" is always by number
    assert desired_routes([proc(2, 1)], {"shop": 3}, True) == []


def test_plan_adds_changes_and_removes() -> None:
    keep = Route("shop", "web", 1, "127.0.0.1", 5001, 3)
    moved = Route("shop", "web", 2, "127.0.0.1", 5002, 3)
    gone = Route("shop", "web", 3, "127.0.0.1", 5003, 3)
    new = Route("blog", "web", 1, "127.0.0.1", 6001, 1)
    todo = plan([keep, Route("shop", "web", 2, "127.0.0.1", 5102, 4), new], [keep, moved, gone])
    assert todo.add == [new, Route("shop", "web", 2, "127.0.0.1", 5102, 4)]
    assert todo.remove == [("shop", "web.3")]
    assert plan([keep], [keep]).empty


def test_a_routed_process_survives_a_failed_check_or_two_but_not_a_third() -> None:
    from app_layer.backends.memory import MemoryBackend
    from app_layer.routing.publisher import Publisher

    class Registry:
        routes: list[Route] = []

        def list(self, app=None):  # type: ignore[no-untyped-def]
            return list(self.routes)

    publisher = Publisher(None, MemoryBackend(), Registry(), unhealthy_threshold=3)  # type: ignore[arg-type]
    Registry.routes = [Route("shop", "web", 1, "127.0.0.1", 5031, 3)]
    failing = [proc(3, 1, healthy=False)]
    for _ in range(2):
        assert desired_routes(failing, {"shop": 3}, True, publisher._tolerate(failing, Registry.routes))
    assert desired_routes(failing, {"shop": 3}, True, publisher._tolerate(failing, Registry.routes)) == []
    # stopping (draining) is never tolerated, nor is a process that was not routed
    draining = [proc(3, 1, healthy=False, state=State.DOWN)]
    assert desired_routes(draining, {"shop": 3}, True, publisher._tolerate(draining, Registry.routes)) == []
    Registry.routes = []
    assert desired_routes(failing, {"shop": 3}, True, publisher._tolerate(failing, [])) == []
