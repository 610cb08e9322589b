"""Apps from the command line, end to end against a running controller (memory scheduler)."""
from __future__ import annotations

import json
import queue
import subprocess
import threading
import time


def test_deploy_scale_rollback_flow(user_cli) -> None:
    cli = user_cli
    created = json.loads(cli.ok("apps:create", "cli-flow-app", "--no-remote", "--json").stdout)
    assert created["id"] == "cli-flow-app" and created["owner"] == cli.username
    app = ("-a", "cli-flow-app")

    result = cli.ok("config:set", "GREETING=hello world", "DEBUG=1", *app)
    assert "done, v2" in result.stderr
    assert "GREETING  hello world" in result.stdout
    cli.ok("config:unset", "DEBUG", *app)
    assert json.loads(cli.ok("config:list", *app, "--json").stdout) == {"GREETING": "hello world"}
    assert cli.ok("config:list", *app, "--oneline").stdout.strip() == 'GREETING="hello world"'

    deployed = cli.ok("builds:create", "registry.example/hello:1", *app, "-p", "web: httpd -f\nworker: sleep 1d")
    assert "-----> Deploying registry.example/hello:1" in deployed.stderr and "done, v4" in deployed.stderr

    scaled = cli.ok("ps:scale", "web=2", "worker=1", "cmd=0", *app)
    assert "web.2" in scaled.stdout
    procs = json.loads(cli.ok("ps:list", *app, "--json").stdout)
    web = sorted(f"{p['type']}.{p['num']}" for p in procs if p["type"] == "web")
    assert web == ["web.1", "web.2"]
    assert all(p["state"] == "up" and p["healthy"] is True and p["release"] == "v4" for p in procs)
    table = cli.ok("ps:list", *app).stdout
    assert "web.1" in table and "healthy" in table and "v4" in table

    releases = json.loads(cli.ok("releases:list", *app, "--json").stdout)
    assert [r["version"] for r in releases] == [4, 3, 2, 1]
    assert releases[0]["summary"] == f"{cli.username} deployed registry.example/hello:1"
    assert "v3" in cli.ok("releases:list", *app).stdout

    cli.ok("config:set", "GREETING=bonjour", *app)  # v5
    rolled = cli.ok("releases:rollback", "v4", *app)
    assert "done, v6" in rolled.stderr
    info = json.loads(cli.ok("releases:info", "v6", *app, "--json").stdout)
    assert info["summary"] == f"{cli.username} rolled back to v4" and info["state"] == "deployed"
    assert json.loads(cli.ok("config:list", *app, "--json").stdout) == {"GREETING": "hello world"}
    assert "rolled back to v4" in cli.ok("releases:info", "6", *app).stdout

    log = cli.ok("logs", *app, "-n", "50").stdout
    assert "cli-flow-app[app-layer]: v6 created" in log
    assert "scaled cmd=0 web=2 worker=1" in log
    assert cli.ok("logs", *app, "-n", "1").stdout.count("\n") == 1

    ran = cli(*("run", *app, "--", "echo", "hi there"))
    assert ran.exit_code == 0
    assert ran.stdout == "echo hi there\n"  # the memory scheduler echoes the command line

    restarted = cli.ok("ps:restart", "web.2", *app, "--json")
    assert [f"{p['type']}.{p['num']}" for p in json.loads(restarted.stdout)] == ["web.2"]

    info = json.loads(cli.ok("apps:info", *app, "--json").stdout)
    assert info["structure"] == {"cmd": 0, "web": 2, "worker": 1} and len(info["processes"]) == 3
    assert cli.ok("apps:open", *app).stdout.strip() == "http://cli-flow-app.example.test/"
    cli.env["APP_LAYER_ROUTER_PORT"] = "8080"
    assert cli.ok("apps:open", *app).stdout.strip() == "http://cli-flow-app.example.test:8080/"

    cli.ok("apps:destroy", *app, "--confirm", "cli-flow-app")
    gone = cli("apps:info", *app)
    assert gone.exit_code == 1 and "404" in gone.stderr


def test_errors_carry_the_api_messages(user_cli) -> None:
    cli = user_cli
    bad_id = cli("apps:create", "Bad_Name", "--no-remote")
    assert bad_id.exit_code == 1
    assert "id: App IDs can only contain [a-z0-9-]." in bad_id.stderr
    app_id = cli.new_app("cli-errors")
    app = ("-a", app_id)
    bad_key = cli("config:set", "1BAD=x", *app)
    assert bad_key.exit_code == 1
    assert "values: Config keys must start with a letter or underscore" in bad_key.stderr
    bad_limit = cli("limits:set", "web=lots", *app)
    assert bad_limit.exit_code == 1 and "memory: Limit format: <number><unit>" in bad_limit.stderr
    no_build = cli("ps:scale", "web=1", *app)
    assert no_build.exit_code == 1 and "No build associated with this release" in no_build.stderr
    usage = cli("config:set", "NO_EQUALS_SIGN", *app)
    assert usage.exit_code == 2 and "expected KEY=VALUE" in usage.stderr
    bad_version = cli("releases:info", "latest", *app)
    assert bad_version.exit_code == 2
    missing = cli("releases:info", "v99", *app)
    assert missing.exit_code == 1 and "Release v99 not found." in missing.stderr
    refused = cli("apps:destroy", *app)  # no terminal, no --confirm: nothing destroyed
    assert refused.exit_code == 2 and f"--confirm={app_id}" in refused.stderr
    assert cli("apps:destroy", *app, "--confirm", "other").exit_code == 2
    cli.ok("apps:info", *app)


def test_limits_set_list_unset(user_cli) -> None:
    cli = user_cli
    app = ("-a", cli.new_app("cli-limits"))
    cli.ok("limits:set", "web=512M", *app)
    cli.ok("limits:set", "--cpu", "web=256", *app)
    assert json.loads(cli.ok("limits:list", *app, "--json").stdout) == {"memory": {"web": "512M"},
                                                                         "cpu": {"web": 256}}
    cli.ok("limits:unset", "web", *app)
    assert json.loads(cli.ok("limits:list", *app, "--json").stdout) == {"memory": {}, "cpu": {"web": 256}}


def test_config_push_and_pull_a_dotenv_file(user_cli, tmp_path, monkeypatch) -> None:
    cli = user_cli
    app = ("-a", cli.new_app("cli-dotenv"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('# settings\nexport DATABASE_URL=postgres://db/x\nMOTD="two\\nlines"\n\nEMPTY=\n')
    cli.ok("config:push", *app)
    values = json.loads(cli.ok("config:list", *app, "--json").stdout)
    assert values == {"DATABASE_URL": "postgres://db/x", "MOTD": "two\nlines", "EMPTY": ""}
    cli.ok("config:set", "MOTD=changed", *app)
    (tmp_path / ".env").write_text("LOCAL_ONLY=1\nMOTD=mine\n")
    cli.ok("config:pull", *app)
    pulled = (tmp_path / ".env").read_text()
    assert "LOCAL_ONLY=1\n" in pulled and "MOTD=mine\n" in pulled and "DATABASE_URL=postgres://db/x\n" in pulled
    cli.ok("config:pull", *app, "--overwrite", "-o", "copy.env")
    cli.ok("config:pull", *app, "--overwrite")
    assert "MOTD=changed\n" in (tmp_path / ".env").read_text()


def _git(cwd, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_app_inferred_from_the_git_remote(user_cli, tmp_path, monkeypatch) -> None:
    cli = user_cli
    repo = tmp_path / "Some Project"
    repo.mkdir()
    _git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    created = json.loads(cli.ok("apps:create", "--json").stdout)  # a random name inside a repository
    app_id = created["id"]
    remote = subprocess.run(["git", "remote", "get-url", "app-layer"], cwd=repo, capture_output=True, text=True)
    assert remote.stdout.strip() == f"ssh://git@127.0.0.1:2222/{app_id}.git"
    again = cli("apps:create")
    assert again.exit_code == 2 and "remote named app-layer already exists" in again.stderr
    cli.ok("config:set", "FROM_REMOTE=yes")  # no -a: the remote names the app
    assert json.loads(cli.ok("config:list", "-a", app_id, "--json").stdout) == {"FROM_REMOTE": "yes"}
    cli.ok("git:remote", "-r", "second")
    assert "already points" in cli.ok("git:remote").stderr
    cli.ok("apps:destroy", "--confirm", app_id)
    remotes = subprocess.run(["git", "remote"], cwd=repo, capture_output=True, text=True).stdout.split()
    assert remotes == ["second"]


def test_app_inferred_from_the_directory_name(user_cli, tmp_path, monkeypatch) -> None:
    cli = user_cli
    folder = tmp_path / f"cli-dir-{user_cli.username}"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert json.loads(cli.ok("apps:create", "--json").stdout)["id"] == folder.name
    assert folder.name in cli.ok("apps:info").stdout
    assert json.loads(cli.ok("apps:list", "--json").stdout)[0]["id"] == folder.name


def test_logs_follow_prints_new_lines_as_they_come(user_cli) -> None:
    cli = user_cli
    app_id = cli.new_app("cli-follow")
    proc = cli.spawn("logs", "-a", app_id, "-f", "--interval", "0.3")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        _wait_for(lines, f"{cli.username} created {app_id}")
        cli.ok("config:set", "FOLLOWED=1", "-a", app_id)
        _wait_for(lines, f"v2 created: {cli.username} added FOLLOWED")
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for(lines: queue.Queue[str], text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} not printed within {timeout}s; got {seen}")
