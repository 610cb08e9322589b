"""The emulator behaves as Marathon does where the backend depends on it, and marathon-python 0.13.0
(the client the backend uses) reads everything it answers."""
from __future__ import annotations

import json
import time

import requests
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonHealthCheck
from marathon.models.container import MarathonContainer

import app_layer.backends.marathon_api  # noqa: F401 - restores collections.Iterable, which the models encode with
from tests.emulators.marathon import Emulator


def web(app_id: str = "/shop/web", image: str = "registry.test/shop:good", **extra: object) -> dict:  # type: ignore[type-arg]
    return {"id": app_id, "instances": 2, "cpus": 0.1, "mem": 64, "container": {
        "type": "DOCKER", "docker": {"image": image}, "portMappings": [{"containerPort": 5000, "hostPort": 0}]},
        "networks": [{"mode": "container/bridge"}], "healthChecks": [{"protocol": "TCP", "portIndex": 0}], **extra}


def settle(emulator: Emulator) -> None:
    emulator.wait_for(lambda: not emulator.cluster.deployments, what="deployments to finish")


def test_marathon_python_reads_every_answer(marathon: Emulator) -> None:
    client = MarathonClient(list(marathon.urls))
    app = MarathonApp(instances=2, cpus=0.1, mem=64,
                      container=MarathonContainer(type="DOCKER", docker={"image": "registry.test/shop:good"}),
                      health_checks=[MarathonHealthCheck(protocol="TCP", port_index=0)],
                      labels={"team": "shop"})
    created = client.create_app("/shop/web", app)            # the models' JSON encoder needs the alias
    assert created.id == "/shop/web" and created.deployments
    assert [d.affected_apps for d in client.list_deployments()] == [["/shop/web"]]
    settle(marathon)
    found = client.get_app("/shop/web", embed_tasks=True)
    assert found.tasks_running == 2 and found.tasks_healthy == 2
    assert all(r.alive for t in found.tasks for r in t.health_check_results)
    assert [a.id for a in client.list_apps(embed_tasks=True)] == ["/shop/web"]
    tasks = client.list_tasks("/shop/web")
    assert len(tasks) == 2 and all(t.state == "TASK_RUNNING" and t.ports for t in tasks)
    client.scale_app("/shop/web", instances=3)               # GET, then PUT {"instances": 3}, with //
    settle(marathon)
    versions = client.list_versions("/shop/web")
    assert len(versions) == 2 and client.get_version("/shop/web", versions[-1]).instances == 2
    assert client.get_info().version == "1.10.26" and client.get_leader()["leader"].startswith("127.0.0.1:")
    assert client.ping() == b"pong"
    client.kill_task("/shop/web", tasks[0].id)
    assert client.delete_app("/shop/web")["deploymentId"]
    settle(marathon)
    assert client.list_apps() == [] and client.list_tasks() == []


def test_bodies_failing_the_schema_get_422_in_marathons_format(marathon: Emulator) -> None:
    url = marathon.urls[0]
    bad = requests.post(f"{url}/v2/apps", json={**web(), "cpus": "lots", "upgradeStrategy": {
        "minimumHealthCapacity": 2}, "cmd": "run", "args": ["run"]}, timeout=5)
    assert bad.status_code == 422
    body = bad.json()
    assert body["message"] == "Object is not valid"
    paths = {d["path"]: d["errors"] for d in body["details"]}
    assert "/cpus" in paths and "/upgradeStrategy/minimumHealthCapacity" in paths and "/" in paths
    assert requests.post(f"{url}/v2/apps", json=web("/shop/tasks"), timeout=5).status_code == 422
    assert requests.put(f"{url}/v2/apps/shop/Web", json={"instances": 1}, timeout=5).status_code == 422
    assert requests.post(f"{url}/v2/apps", json={**web(), "tty": True}, timeout=5).status_code == 422
    broken = requests.post(f"{url}/v2/apps", data="{", timeout=5, headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert marathon.cluster.apps == {}
    missing = requests.get(f"{url}/v2/apps/nope", timeout=5)
    assert (missing.status_code, missing.json()) == (404, {"message": "App '/nope' does not exist"})


def test_a_locked_app_answers_409_until_forced(marathon: Emulator) -> None:
    url = marathon.urls[0]
    marathon.cluster.unhealthy_images.add("registry.test/shop:bad")
    first = requests.put(f"{url}/v2/apps//shop/web", json=web(image="registry.test/shop:bad"),
                         params={"force": "False"}, timeout=5)
    assert first.status_code == 201 and first.headers["Marathon-Deployment-Id"] == first.json()["deploymentId"]
    locked = requests.put(f"{url}/v2/apps/shop/web", json={"instances": 1}, params={"force": "False"}, timeout=5)
    assert locked.status_code == 409
    assert locked.json()["message"].startswith("App is locked by one or more deployments. Override with the option "
                                               "'?force=true'.")
    assert locked.json()["deployments"] == [{"id": first.json()["deploymentId"]}]
    forced = requests.put(f"{url}/v2/apps/shop/web", json=web(), params={"force": "True"}, timeout=5)
    assert forced.status_code == 200
    assert any(e["eventType"] == "deployment_failed" and e["id"] == first.json()["deploymentId"]
               for e in marathon.cluster.events_sent)
    settle(marathon)


def test_deleting_a_deployment_reverts_it_and_force_only_cancels(marathon: Emulator) -> None:
    url = marathon.urls[0]
    requests.put(f"{url}/v2/apps/shop/web", json=web(), timeout=5)
    settle(marathon)
    version = marathon.cluster.apps["/shop/web"].definition["version"]
    good = {t.id for t in marathon.cluster.tasks.values()}
    marathon.cluster.unhealthy_images.add("registry.test/shop:bad")
    change = requests.put(f"{url}/v2/apps/shop/web", json=web(image="registry.test/shop:bad"), timeout=5).json()
    marathon.wait_for(lambda: len(marathon.cluster.tasks) == 4, what="new tasks")
    deployments = requests.get(f"{url}/v2/deployments", timeout=5).json()
    assert [d["currentActions"][0]["action"] for d in deployments] == ["RestartApplication"]
    revert = requests.delete(f"{url}/v2/deployments/{change['deploymentId']}", timeout=5)
    assert revert.status_code == 200 and revert.json()["deploymentId"] != change["deploymentId"]
    settle(marathon)
    assert marathon.cluster.apps["/shop/web"].definition["version"] == version
    assert {t.id for t in marathon.cluster.tasks.values()} == good     # the old tasks were never touched
    cancel = requests.put(f"{url}/v2/apps/shop/web", json=web(image="registry.test/shop:bad"), timeout=5).json()
    gone = requests.delete(f"{url}/v2/deployments/{cancel['deploymentId']}", params={"force": "true"}, timeout=5)
    assert (gone.status_code, gone.text) == (202, "")
    assert marathon.cluster.deployments == {}


def test_upgrade_strategy_decides_how_many_old_tasks_go_at_once(marathon: Emulator) -> None:
    url = marathon.urls[0]
    requests.put(f"{url}/v2/apps/shop/web", json=web(instances=4), timeout=5)
    settle(marathon)
    marathon.cluster.health_delay = 0.5
    strategy = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    requests.put(f"{url}/v2/apps/shop/web", json=web(instances=4, upgradeStrategy=strategy), timeout=5)
    states = marathon.wait_for(lambda: sorted(t.state for t in marathon.cluster.tasks.values()
                                              if t.state != "TASK_RUNNING") or None, what="a restart")
    assert states.count("TASK_KILLING") == 2      # half killed at once, no extra capacity
    assert len([t for t in marathon.cluster.tasks.values() if t.active]) <= 4
    settle(marathon)


def test_the_event_stream_speaks_sse(marathon: Emulator) -> None:
    url = marathon.urls[0]
    assert requests.get(f"{url}/v2/events", timeout=5).status_code == 405
    with requests.get(f"{url}/v2/events", params={"event_type": ["deployment_success", "event_stream_attached"]},
                      headers={"Accept": "text/event-stream"}, stream=True, timeout=5) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "event: event_stream_attached"
        assert json.loads(next(lines).removeprefix("data: "))["eventType"] == "event_stream_attached"
        assert next(lines) == ""
        requests.put(f"{url}/v2/apps/shop/web", json=web(), timeout=5)
        assert next(lines) == "event: deployment_success"       # the filter left the other events out
        event = json.loads(next(lines).removeprefix("data: "))
        assert event["plan"]["steps"][0]["actions"] == [{"action": "StartApplication", "app": "/shop/web"}]
        started = time.monotonic()
        assert marathon.cluster.drop_event_streams() == 1
        assert list(lines) == [""] and time.monotonic() - started < 5
