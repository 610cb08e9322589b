"""The pure Marathon app-definition builder: every kind of release gives an app Marathon's own
JSON schema (``AppDefinition.json``, Draft 4) accepts, with the fields the platform relies on."""
from __future__ import annotations

import json

import jsonschema
import pytest

from app_layer.backends.base import HealthCheck, ReleaseSpec
from app_layer.backends.marathon_app import (
    DEFAULT_CPUS,
    DEFAULT_MEM,
    LABEL_SPEC,
    app_definition,
    app_id,
    fingerprint,
    segment,
)
from tests.emulators.marathon import APP_SCHEMA

VALIDATOR = jsonschema.Draft4Validator(APP_SCHEMA)


def release(**kw: object) -> ReleaseSpec:
    base: dict[str, object] = {"app": "shop", "version": 4, "image": "127.0.0.1:5000/shop:git-abc",
                               "procfile": {"web": "gunicorn app:app", "worker": "celery worker"},
                               "env": {"APP_LAYER_APP": "shop", "APP_LAYER_RELEASE": "v4"}, "dockerfile": True}
    base.update(kw)
    return ReleaseSpec(**base)  # type: ignore[arg-type]


CASES = {
    "web only": (release(procfile={"web": "python -m http.server $PORT"}), "web", 1),
    "worker only": (release(procfile={"worker": "celery worker"}), "worker", 2),
    "image CMD": (release(procfile={}), "cmd", 1),
    "buildpack": (release(dockerfile=False), "web", 1),
    "limits": (release(memory={"web": "512M"}, cpu={"web": 512}), "web", 1),
    "limits in g": (release(memory={"worker": "1g"}, cpu={"worker": 1024}), "worker", 1),
    "health URL": (release(healthcheck=HealthCheck(url="/health?deep=1", timeout=3.5, initial_delay=45)), "web", 2),
    "health full URL": (release(healthcheck=HealthCheck(url="http://localhost/up")), "web", 1),
    "health TCP": (release(healthcheck=HealthCheck()), "web", 1),
    "unicode env": (release(env={"GREETING": "héllo wörld ☃", "EMPTY": "", "JSON": '{"a": [1, 2]}'}), "web", 1),
    "custom port": (release(port=8080, env={"PORT": "8080"}), "web", 1),
    "many instances": (release(), "web", 250),
    "scaled to zero": (release(), "worker", 0),
    "odd names": (release(app="-odd-", procfile={"my_worker": "run"}), "my_worker", 1),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_kind_of_release_gives_a_valid_app(case: str) -> None:
    spec, ptype, instances = CASES[case]
    definition = app_definition(spec, ptype, instances)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(definition)]
    assert errors == []
    json.dumps(definition)  # plain JSON data
    assert definition["instances"] == instances
    assert definition["container"]["type"] == "DOCKER" and definition["container"]["docker"]["image"] == spec.image
    assert definition["labels"]["app-layer.app"] == spec.app and definition["labels"]["app-layer.type"] == ptype
    assert definition["labels"]["app-layer.release"] == str(spec.version)
    assert definition["upgradeStrategy"] == {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    assert definition["taskKillGracePeriodSeconds"] > 0
    assert definition["env"]["PORT"] == str(spec.port or 5000)
    assert {k: v for k, v in definition["env"].items() if k != "PORT"} == {k: v for k, v in spec.env.items()
                                                                          if k != "PORT"}


def test_web_maps_port_and_checks_health_worker_does_neither() -> None:
    spec = release(healthcheck=HealthCheck(url="/health", timeout=2.5, initial_delay=40))
    web = app_definition(spec, "web", 2)
    assert web["id"] == "/shop/web"
    assert web["container"]["portMappings"] == [{"containerPort": 5000, "hostPort": 0, "protocol": "tcp",
                                                 "name": "http"}]
    [check] = web["healthChecks"]
    assert (check["protocol"], check["path"], check["portIndex"], check["timeoutSeconds"]) == ("HTTP", "/health", 0, 3)
    assert check["gracePeriodSeconds"] == 40
    assert web["args"] == ["sh", "-c", "gunicorn app:app"]
    worker = app_definition(spec, "worker", 1)
    assert worker["container"]["portMappings"] == [] and worker["healthChecks"] == []
    tcp = app_definition(release(), "web", 1)["healthChecks"][0]
    assert tcp["protocol"] == "TCP" and "path" not in tcp


def test_resources_from_shares_and_memory_limit() -> None:
    limited = app_definition(release(memory={"web": "512M"}, cpu={"web": 512}), "web", 1)
    assert (limited["cpus"], limited["mem"]) == (0.5, 512)
    assert app_definition(release(memory={"web": "1g"}), "web", 1)["mem"] == 1024
    default = app_definition(release(), "web", 1)
    assert (default["cpus"], default["mem"]) == (DEFAULT_CPUS, DEFAULT_MEM)


def test_the_image_cmd_is_kept_when_there_is_no_command() -> None:
    definition = app_definition(release(procfile={}), "cmd", 1)
    assert "args" not in definition and "cmd" not in definition
    assert app_definition(release(dockerfile=False), "web", 1)["args"] == ["start", "web"]


def test_ids_follow_marathon_rules_one_to_one() -> None:
    assert app_id("shop", "web") == "/shop/web"
    assert segment("my_worker") != segment("my-worker") and segment("my_worker").startswith("my-worker-")
    assert segment("-x-") != segment("x") and segment("tasks") != "tasks"
    for name in ("my_worker", "-x-", "tasks", "a__b"):
        VALIDATOR.validate({"id": f"/{segment(name)}/{segment(name)}"})


def test_the_spec_digest_ignores_instances_only() -> None:
    one, three = app_definition(release(), "web", 1), app_definition(release(), "web", 3)
    assert one["labels"][LABEL_SPEC] == three["labels"][LABEL_SPEC] == fingerprint(three)
    changed = app_definition(release(env={"GREETING": "hi"}), "web", 1)
    assert changed["labels"][LABEL_SPEC] != one["labels"][LABEL_SPEC]
