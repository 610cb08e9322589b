"""The emulator's engine and agents beyond the recorded exchanges: placement rules (so the backend's
spreading tests mean something), unit lifecycle states, and systemd's command-line splitting."""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app_layer.backends.fleet import FleetClient
from tests.emulators.fleet import systemd_split
from tests.fixtures.fleet import MACHINES, FleetCluster

A, B, C = (m[0] for m in MACHINES)


def unit(*xfleet: tuple[str, str], start: str = "/bin/true") -> dict:
    return {"desiredState": "launched",
            "options": [{"section": "Service", "name": "ExecStart", "value": start}]
            + [{"section": "X-Fleet", "name": k, "value": v} for k, v in xfleet]}


def wait(condition: Callable[[], object], what: str) -> object:
    until = time.monotonic() + 10
    while not (value := condition()):
        assert time.monotonic() < until, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def placed(client: FleetClient, name: str) -> str:
    return str(wait(lambda: (client.request("GET", f"/units/{name}")[1] or {}).get("machineID"), f"{name} placed"))


@pytest.fixture
def client(fleet: FleetCluster) -> FleetClient:
    return FleetClient(fleet.socket)


def test_placement_rules(fleet: FleetCluster, client: FleetClient) -> None:
    client.request("PUT", "/units/pinned.service", unit(("MachineID", C)))
    assert placed(client, "pinned.service") == C
    client.request("PUT", "/units/buddy.service", unit(("MachineOf", "pinned.service")))
    assert placed(client, "buddy.service") == C
    client.request("PUT", "/units/us.service", unit(("MachineMetadata", '"region=us"')))
    assert placed(client, "us.service") == C
    client.request("PUT", "/units/eu.service", unit(("MachineMetadata", "region=eu"), ("Conflicts", "eu2.service")))
    first = placed(client, "eu.service")
    # the conflict is declared by eu.service only, and still keeps eu2.service off its machine
    client.request("PUT", "/units/eu2.service", unit(("MachineMetadata", "region=eu")))
    assert {first, placed(client, "eu2.service")} == {A, B}
    client.request("PUT", "/units/free.service", unit())
    assert placed(client, "free.service") in (A, B)   # least loaded: C already runs three units


def test_global_units_run_on_every_eligible_machine(fleet: FleetCluster, client: FleetClient) -> None:
    client.request("PUT", "/units/agent.service", unit(("Global", "true"), ("MachineMetadata", "region=eu")))
    def running() -> list[str]:
        return sorted(s["machineID"] for s in client.pages("/state", "states", unitName="agent.service")
                      if s["systemdActiveState"] == "active")

    assert wait(lambda: running() == [A, B], "agent.service on both eu machines")
    assert "machineID" not in client.request("GET", "/units/agent.service")[1]


def test_lifecycle_states(fleet: FleetCluster, client: FleetClient) -> None:
    fleet.fake.hang.add("slow.service")
    client.request("PUT", "/units/slow.service", unit())
    state = wait(lambda: [s for s in client.pages("/state", "states", unitName="slow.service")], "a state")
    assert (state[0]["systemdActiveState"], state[0]["systemdSubState"]) == ("activating", "start-pre")
    assert client.request("GET", "/units/slow.service")[1]["currentState"] == "loaded"
    fleet.fake.hang.clear()
    fleet.emulator.crash("slow.service")   # Restart= is not set: systemd leaves it failed
    wait(lambda: client.request("GET", "/state/slow.service")[1]["systemdActiveState"] == "failed", "failed")
    client.request("PUT", "/units/ok.service", unit())
    wait(lambda: client.request("GET", "/units/ok.service")[1]["currentState"] == "launched", "launched")
    client.request("PUT", "/units/ok.service", {"desiredState": "loaded"})
    wait(lambda: client.request("GET", "/state/ok.service")[1]["systemdActiveState"] == "inactive", "stopped")
    client.request("PUT", "/units/ok.service", {"desiredState": "inactive"})
    wait(lambda: client.request("GET", "/state/ok.service")[0] == 404, "unloaded")
    assert "machineID" not in client.request("GET", "/units/ok.service")[1]


def test_machine_metadata_patches_change_placement(fleet: FleetCluster, client: FleetClient) -> None:
    ops = [{"op": "add", "path": f"/{B}/metadata/disk", "value": {"value": "ssd"}}]
    assert client.request("PATCH", "/machines", ops)[0] == 204
    client.request("PUT", "/units/db.service", unit(("MachineMetadata", "disk=ssd")))
    assert placed(client, "db.service") == B


@pytest.mark.parametrize(("line", "argv"), [
    ('/bin/echo "a b" c', ["/bin/echo", "a b", "c"]),
    ("/bin/echo 'single \"quoted\"'", ["/bin/echo", 'single "quoted"']),
    (r'/bin/echo "tab\there" "nl\nx" "\x41"', ["/bin/echo", "tab\there", "nl\nx", "A"]),
    ("/bin/echo $$HOME 100%%", ["/bin/echo", "$HOME", "100%"]),
])
def test_systemd_command_lines(line: str, argv: list[str]) -> None:
    assert systemd_split(line) == argv


@pytest.mark.parametrize("line", ["/bin/echo $HOME", "/bin/echo %n", '/bin/echo "open'])
def test_expansions_the_emulator_does_not_do_are_errors(line: str) -> None:
    with pytest.raises(ValueError):
        systemd_split(line)
