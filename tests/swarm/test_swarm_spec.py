"""The pure service-spec builder: what a release becomes on the swarm, without a swarm."""
from __future__ import annotations

import pytest

from app_layer.backends.base import HealthCheck, ReleaseSpec
from app_layer.backends.swarm_spec import (
    Timing,
    create_arguments,
    memory_bytes,
    nano_cpus,
    one_off_spec,
    service_spec,
)


def spec(version: int = 3, url: str = "/health", **kw: object) -> ReleaseSpec:
    base = {"app": "shop", "version": version, "image": "reg.test:5000/shop:git-abc", "procfile": {"worker": "queue"},
            "env": {"GREETING": "hi", "APP_LAYER_RELEASE": f"v{version}"}, "healthcheck": HealthCheck(url=url)}
    return ReleaseSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_a_web_service_is_named_labelled_and_published_in_host_mode_on_a_dynamic_port() -> None:
    got = service_spec(spec(port=8080), "web", 4)
    assert got["Name"] == "shop_web"
    assert {k: v for k, v in got["Labels"].items() if k != "app-layer.spec"} == {
        "app-layer.app": "shop", "app-layer.release": "3", "app-layer.type": "web", "app-layer.port": "8080"}
    assert got["Mode"] == {"Replicated": {"Replicas": 4}}
    assert got["EndpointSpec"] == {"Mode": "dnsrr", "Ports": [{"Protocol": "tcp", "TargetPort": 8080,
                                                              "PublishMode": "host"}]}
    container = got["TaskTemplate"]["ContainerSpec"]
    assert container["Image"] == "reg.test:5000/shop:git-abc"
    assert "PORT=8080" in container["Env"] and "GREETING=hi" in container["Env"]
    assert container["Labels"] == {"app-layer.app": "shop", "app-layer.release": "3", "app-layer.type": "web"}
    assert got["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"


def test_updates_start_new_tasks_first_and_roll_back_on_failure() -> None:
    got = service_spec(spec(), "web", 10, Timing(monitor=5))
    assert got["UpdateConfig"] == {"Parallelism": 3, "Delay": 0, "FailureAction": "rollback",
                                   "Monitor": 5 * 10 ** 9, "MaxFailureRatio": 0, "Order": "start-first"}
    assert got["RollbackConfig"]["Order"] == "start-first"


def test_the_health_check_quotes_the_users_url_and_keeps_a_sparse_interval() -> None:
    check = service_spec(spec(url="/h?x=1'; rm -rf /"), "web", 1)["TaskTemplate"]["ContainerSpec"]["Healthcheck"]
    assert check["Test"][0] == "CMD-SHELL"
    assert "'http://127.0.0.1:5000/h?x=1'\"'\"'; rm -rf /'" in check["Test"][1]
    assert check["Interval"] == 10 * 10 ** 9 and check["Retries"] == 3
    tcp = service_spec(spec(url=""), "web", 1)["TaskTemplate"]["ContainerSpec"]["Healthcheck"]
    assert "127.0.0.1 5000" in tcp["Test"][1]


def test_a_worker_has_no_health_check_and_publishes_nothing() -> None:
    got = service_spec(spec(dockerfile=True), "worker", 2)
    assert got["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Test": ["NONE"]}
    assert got["EndpointSpec"] == {"Mode": "dnsrr"}
    assert got["TaskTemplate"]["ContainerSpec"]["Args"] == ["sh", "-c", "queue"]


def test_limits_become_bytes_and_nano_cpus() -> None:
    got = service_spec(spec(memory={"web": "512M"}, cpu={"web": 512}), "web", 1)
    assert got["TaskTemplate"]["Resources"] == {"Limits": {"MemoryBytes": 512 * 1024 ** 2, "NanoCPUs": 5 * 10 ** 8}}
    assert memory_bytes("1g") == 1024 ** 3 and memory_bytes("64MB") == 64 * 1024 ** 2 and nano_cpus(1024) == 10 ** 9
    with pytest.raises(ValueError):
        memory_bytes("lots")


def test_the_fingerprint_changes_with_the_release_but_not_with_the_replicas() -> None:
    def fingerprint(s: dict) -> str:  # type: ignore[type-arg]
        return s["Labels"]["app-layer.spec"]
    assert fingerprint(service_spec(spec(), "web", 1)) == fingerprint(service_spec(spec(), "web", 9))
    assert fingerprint(service_spec(spec(), "web", 1)) != fingerprint(service_spec(spec(version=4), "web", 1))


def test_a_one_off_is_a_job_that_is_never_restarted() -> None:
    got = one_off_spec(spec(dockerfile=True), "echo $GREETING", "shop_run-1")
    assert got["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert got["TaskTemplate"]["ContainerSpec"]["Args"] == ["sh", "-c", "echo $GREETING"]
    assert got["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
    assert set(create_arguments(got)) == {"task_template", "name", "labels", "mode", "endpoint_spec"}
