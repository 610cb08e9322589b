"""fleet units, decided in pure functions: ``ReleaseSpec`` + process type + number -> the unit's options
(the ``options`` list of a fleet API v1 ``Unit``: ``{"section", "name", "value"}``).

One unit per process, named as Deis named them: ``<app>_v<N>.<type>.<num>.service``; the Docker
container it runs has the same name without ``.service``. The unit wraps ``docker run`` the way
systemd expects a long-running service:

* ``ExecStartPre=-/usr/bin/docker pull <image>``: fetch the image from the registry (the ``-``
  lets a machine that already has the image start it when the registry is unreachable; a missing
  image then fails ``docker run`` with docker's own message);
* ``ExecStartPre=-/usr/bin/docker rm -f <name>``: remove a stale container of the same name (a
  crashed earlier start, a machine that rebooted);
* ``ExecStart=/usr/bin/docker run --rm --name <name> ... <image> [command]`` in the foreground, so
  systemd tracks the container's life; ``Restart=on-failure`` brings a crashed process back;
* ``ExecStop=/usr/bin/docker stop -t <grace> <name>``.

Quoting: every argument is built as its own argv element and quoted with ``systemd_quote``
(double quotes, C escapes, ``$$`` and ``%%``), so a config value can contain spaces, quotes,
newlines, ``$VAR`` or ``%n`` and reaches the process byte for byte; no shell ever sees it.

Networking: ``PORT`` (the release's, else 5000: fleet cannot inspect the image) is published on an
ephemeral host port, bound to ``publish_ip`` (``127.0.0.1`` when every machine is this host, all
interfaces on a real cluster, so the router reaches ``<machine primaryIP>:<host port>``).

Spreading: processes of one type of one release are numbered 1..n and cut into groups of as many
as there are machines the release may run on (``machines``: the backend counts those whose metadata
match the release's tags); each unit lists the other members of its group in
``[X-Fleet] Conflicts=`` (one line each, exact names; fleet enforces a conflict from either side),
so a group never shares a machine, and more processes than machines still all find a place (two
per machine, then three ...). A unit's group depends only on its number and the machine count, so
scaling adds units without changing (and so restarting) the ones that run, and only processes of
the *same* release conflict: a rolling deploy can start v2's web.1 where v1's web.1 still runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from app_layer.backends.base import ReleaseSpec
from app_layer.backends.docker import process_command

DOCKER = "/usr/bin/docker"
DEFAULT_PORT = 5000
SUFFIX = ".service"
LABEL_APP, LABEL_RELEASE = "app-layer.app", "app-layer.release"
LABEL_TYPE, LABEL_NUM, LABEL_PORT = "app-layer.type", "app-layer.num", "app-layer.port"
_NAME = re.compile(r"^(?P<app>[a-z0-9-]+)_v(?P<version>[0-9]+)\.(?P<type>[A-Za-z0-9_-]+)\.(?P<num>[0-9]+)\.service$")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@=+,-]+$")


@dataclass(frozen=True)
class UnitName:
    app: str
    version: int
    type: str
    num: int

    @property
    def job(self) -> str:
        """The Deis job name, also the Docker container's name."""
        return f"{self.app}_v{self.version}.{self.type}.{self.num}"

    def __str__(self) -> str:
        return self.job + SUFFIX


def unit_name(release: ReleaseSpec, ptype: str, num: int) -> str:
    return release.name(ptype, num) + SUFFIX


def parse_unit_name(name: str) -> UnitName | None:
    """``myapp_v7.web.1.service`` -> ``UnitName("myapp", 7, "web", 1)``; None for any other unit."""
    match = _NAME.match(name)
    if not match:
        return None
    return UnitName(match["app"], int(match["version"]), match["type"], int(match["num"]))


def app_glob(app: str) -> str:
    """A glob matching every unit of ``app`` (and no unit of another app: ``_`` ends the name)."""
    return f"{app}_v*"


def port_of(release: ReleaseSpec) -> int:
    return release.port or DEFAULT_PORT


def systemd_quote(arg: str) -> str:
    """One argv element as a word of a systemd ``Exec*=`` line (``systemd.service(5)``, "Command lines").

    Plain words stay as they are; anything else is double-quoted with C escapes. ``$`` and ``%``
    are doubled in every word: systemd would expand ``$VAR`` and ``%n`` inside quotes too.
    """
    if arg and _PLAIN.match(arg):
        return arg
    out = []
    for char in arg:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "$":
            out.append("$$")
        elif char == "%":
            out.append("%%")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def command_line(argv: list[str]) -> str:
    return " ".join(systemd_quote(arg) for arg in argv)


def docker_run(release: ReleaseSpec, ptype: str, num: int, publish_ip: str = "") -> list[str]:
    """The ``docker run`` argv of one process, in the foreground."""
    name = release.name(ptype, num)
    port = port_of(release)
    argv = [DOCKER, "run", "--rm", "--name", name, "--init"]
    labels = {LABEL_APP: release.app, LABEL_RELEASE: str(release.version), LABEL_TYPE: ptype,
              LABEL_NUM: str(num), LABEL_PORT: str(port)}
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--publish", f"{publish_ip}::{port}" if publish_ip else str(port)]
    env = {**release.env, "PORT": str(port)}
    for key in sorted(env):
        argv += ["--env", f"{key}={env[key]}"]
    if release.memory.get(ptype):
        argv += ["--memory", release.memory[ptype]]
    if release.cpu.get(ptype):
        argv += ["--cpu-shares", str(release.cpu[ptype])]
    argv.append(release.image)
    argv += process_command(release, ptype) or []
    return argv


def spread_group(num: int, machines: int) -> list[int]:
    """The other process numbers that ``num`` must not share a machine with (``machines`` < 2: none)."""
    if machines < 2:
        return []
    first = (num - 1) // machines * machines + 1
    return [n for n in range(first, first + machines) if n != num]


def unit_options(release: ReleaseSpec, ptype: str, num: int, *, publish_ip: str = "", machines: int = 0,
                 stop_grace: float = 10.0) -> list[dict[str, str]]:
    """The whole unit of process ``ptype``.``num`` of ``release`` as fleet API options.

    The release's tags (``deis tags:set``) become ``MachineMetadata``: every pair must match, as in Deis.
    """
    name = release.name(ptype, num)
    grace = max(int(stop_grace), 1)

    def opt(section: str, key: str, value: str) -> dict[str, str]:
        return {"section": section, "name": key, "value": value}

    options = [
        opt("Unit", "Description", f"{release.app} v{release.version} {ptype}.{num}"),
        opt("Unit", "After", "docker.service"),
        opt("Unit", "Requires", "docker.service"),
        opt("Service", "TimeoutStartSec", "20min"),
        opt("Service", "TimeoutStopSec", str(grace + 5)),
        opt("Service", "Restart", "on-failure"),
        opt("Service", "RestartSec", "5"),
        opt("Service", "ExecStartPre", "-" + command_line([DOCKER, "pull", release.image])),
        opt("Service", "ExecStartPre", "-" + command_line([DOCKER, "rm", "-f", name])),
        opt("Service", "ExecStart", command_line(docker_run(release, ptype, num, publish_ip))),
        opt("Service", "ExecStop", command_line([DOCKER, "stop", "-t", str(grace), name])),
    ]
    for other in spread_group(num, machines):
        options.append(opt("X-Fleet", "Conflicts", unit_name(release, ptype, other)))
    if release.tags:
        pairs = " ".join(systemd_quote(f"{key}={value}") for key, value in sorted(release.tags.items()))
        options.append(opt("X-Fleet", "MachineMetadata", pairs))
    return options
