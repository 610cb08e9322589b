"""The pure fleet unit builder: names, the ``docker run`` line and its quoting, spreading, limits."""
from __future__ import annotations

import pytest

from app_layer.backends import fleet_units as units
from app_layer.backends.base import ReleaseSpec
from tests.emulators.fleet import schema_validator, systemd_split


def release(**kw: object) -> ReleaseSpec:
    base: dict = {"app": "shop", "version": 7, "image": "127.0.0.1:5000/shop:v7",
                  "procfile": {"web": "gunicorn app:app", "worker": "celery -A tasks worker"},
                  "env": {"GREETING": "hello"}, "dockerfile": True}
    base.update(kw)
    return ReleaseSpec(**base)  # type: ignore[arg-type]


def value(options: list[dict[str, str]], name: str) -> list[str]:
    return [o["value"] for o in options if o["name"] == name]


def run_argv(options: list[dict[str, str]]) -> list[str]:
    [line] = value(options, "ExecStart")
    return systemd_split(line)


def test_unit_names_follow_deis_and_parse_back() -> None:
    assert units.unit_name(release(), "web", 3) == "shop_v7.web.3.service"
    parsed = units.parse_unit_name("shop_v7.web.3.service")
    assert parsed == units.UnitName("shop", 7, "web", 3) and parsed.job == "shop_v7.web.3"
    assert str(parsed) == "shop_v7.web.3.service"
    for other in ("shop_v7.web.3", "deis-router.service", "shop_vx.web.1.service", "web@.service"):
        assert units.parse_unit_name(other) is None


def test_the_unit_pulls_removes_a_stale_container_runs_in_the_foreground_and_stops() -> None:
    options = units.unit_options(release(), "web", 1, stop_grace=5)
    assert not list(schema_validator("Unit").iter_errors({"name": "shop_v7.web.1.service", "options": options,
                                                          "desiredState": "launched"}))
    assert value(options, "ExecStartPre") == ["-/usr/bin/docker pull 127.0.0.1:5000/shop:v7",
                                              "-/usr/bin/docker rm -f shop_v7.web.1"]
    assert value(options, "ExecStop") == ["/usr/bin/docker stop -t 5 shop_v7.web.1"]
    assert value(options, "Restart") == ["on-failure"]
    argv = run_argv(options)
    assert argv[:6] == ["/usr/bin/docker", "run", "--rm", "--name", "shop_v7.web.1", "--init"]
    assert argv[-4:] == ["127.0.0.1:5000/shop:v7", "sh", "-c", "gunicorn app:app"]
    assert "--detach" not in argv and "-d" not in argv
    assert ["--env", "PORT=5000"] == argv[argv.index("PORT=5000") - 1:argv.index("PORT=5000") + 1]
    assert ["--label", "app-layer.app=shop"] == argv[argv.index("app-layer.app=shop") - 1:][:2]


@pytest.mark.parametrize("hostile", [
    "two words", 'a "quoted" value', "it's", "back\\slash", "$HOME and ${PATH}", "100% %n %i",
    "line one\nline two", "tab\there", "; rm -rf / #", "`id` $(id)", "ünïcödé ✓", "", "=", "\x01ctl",
])
def test_config_values_reach_the_process_byte_for_byte(hostile: str) -> None:
    """Each argv element is quoted for systemd on its own: no shell, no $VAR or %n expansion."""
    options = units.unit_options(release(env={"VALUE": hostile}), "web", 1)
    argv = run_argv(options)
    assert f"VALUE={hostile}" in argv
    assert argv[argv.index(f"VALUE={hostile}") - 1] == "--env"
    [line] = value(options, "ExecStart")
    assert "\n" not in line   # a newline would end the unit file's line


def test_command_forms_follow_the_docker_backend() -> None:
    assert run_argv(units.unit_options(release(dockerfile=False), "web", 1))[-2:] == ["start", "web"]
    assert run_argv(units.unit_options(release(procfile={}), "cmd", 1))[-1] == "127.0.0.1:5000/shop:v7"


def test_port_is_published_on_an_ephemeral_host_port() -> None:
    argv = run_argv(units.unit_options(release(port=8080), "web", 1, publish_ip="127.0.0.1"))
    assert argv[argv.index("--publish") + 1] == "127.0.0.1::8080" and "PORT=8080" in argv
    argv = run_argv(units.unit_options(release(), "web", 1))
    assert argv[argv.index("--publish") + 1] == "5000"   # all interfaces: the router reaches primaryIP


def test_limits_and_tags() -> None:
    options = units.unit_options(release(memory={"web": "512M"}, cpu={"web": 512}, tags={"region": "eu west"}),
                                 "web", 1)
    argv = run_argv(options)
    assert argv[argv.index("--memory") + 1] == "512M" and argv[argv.index("--cpu-shares") + 1] == "512"
    assert value(options, "MachineMetadata") == ['"region=eu west"']
    worker = run_argv(units.unit_options(release(memory={"web": "512M"}), "worker", 1))
    assert "--memory" not in worker


def test_spread_groups_keep_one_type_of_one_release_apart() -> None:
    assert units.spread_group(1, 3) == [2, 3] and units.spread_group(3, 3) == [1, 2]
    assert units.spread_group(4, 3) == [5, 6] and units.spread_group(5, 1) == []
    options = units.unit_options(release(), "web", 2, machines=3)
    assert value(options, "Conflicts") == ["shop_v7.web.1.service", "shop_v7.web.3.service"]
    assert [o["section"] for o in options if o["name"] == "Conflicts"] == ["X-Fleet", "X-Fleet"]
    # a unit's group does not depend on how many processes run: scaling never changes running units
    assert units.unit_options(release(), "web", 2, machines=3) == options
    assert value(units.unit_options(release(), "web", 1), "Conflicts") == []
