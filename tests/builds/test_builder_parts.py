"""The builder's pure parts: which SSH commands pass, the authorized_keys line, the configs written."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app_layer.builds import git_shell, hook, keys_command, registry, repos, sshd

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq1c0Uq7p6P1l2p9bTt2i4m9iA0xN0p5y0Gm0c3XyZb"


@pytest.mark.parametrize(("original", "service", "app"), [
    ("git-receive-pack 'my-app.git'", "git-receive-pack", "my-app"),
    ("git-receive-pack '/my-app.git'", "git-receive-pack", "my-app"),
    ("git-receive-pack 'my-app'", "git-receive-pack", "my-app"),
    ("git-upload-pack '/my-app.git'", "git-upload-pack", "my-app"),
])
def test_git_commands_that_pass(original: str, service: str, app: str):
    assert git_shell.parse(original) == git_shell.GitCommand(service, app)


@pytest.mark.parametrize("original", [
    "", "sh", "git-receive-pack", "git-receive-pack '../x.git'", "git-receive-pack 'a/b.git'",
    "git-receive-pack 'x.git'; id", "git-receive-pack 'x.git' && id", "git-upload-archive 'x.git'",
    "git-receive-pack 'X.git'", "git-receive-pack '-x.git'", "git-receive-pack 'x.git", "git receive-pack 'x.git'",
    "git-receive-pack '$(id).git'", "git-receive-pack 'x.git'\nid",
])
def test_everything_else_is_refused(original: str):
    assert git_shell.parse(original) is None


def test_the_authorized_keys_line_forces_git_shell_and_restricts():
    line = keys_command.authorized_line("/opt/py/bin/python", "/data/sshd/builder.json", "ann.b+c@x",
                                        "SHA256:ab+/cd", KEY + " ann@laptop")
    assert line is not None
    options, key_type, key_data = line.rsplit(" ", 2)
    assert (key_type, key_data) == tuple(KEY.split())
    assert options.endswith(",restrict") and options.startswith('command="')
    command = options[len('command="'):-len('",restrict')]
    assert shlex.split(command) == ["/opt/py/bin/python", "-m", "app_layer.cli.main", "git-shell", "--config",
                                    "/data/sshd/builder.json", "ann.b+c@x", "SHA256:ab+/cd"]


@pytest.mark.parametrize(("username", "public"), [
    ('ann"x', KEY), ("ann x", KEY), ("", KEY), ("ann", "ssh-ed25519"), ("ann", 'ssh-ed25519 AAAA" x'),
    ("ann", "command=x ssh-ed25519 AAAA"),
])
def test_no_line_that_could_break_out_of_its_options(username: str, public: str):
    assert keys_command.authorized_line("/usr/bin/python3", "/d/b.json", username, "SHA256:x", public) is None


def test_sshd_config_is_the_builders_only(tmp_path: Path):
    layout = sshd.SshdLayout(tmp_path / "sshd")
    text = sshd.render_config(layout, "127.0.0.1", 2222, "/opt/py/bin/python", "root", as_root=True)
    options = dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
                   and not line.startswith("HostKey"))
    assert options["Port"] == "2222" and options["ListenAddress"] == "127.0.0.1"
    assert options["AllowUsers"] == "git" and options["PasswordAuthentication"] == "no"
    assert options["AuthorizedKeysFile"] == "none" and options["PermitTTY"] == "no"
    assert options["AuthorizedKeysCommand"] == (f"/opt/py/bin/python -m app_layer.cli.main authorized-keys "
                                                f"--config {layout.builder_config} %f")
    with pytest.raises(sshd.SshdError):
        sshd.keys_command("/my python/bin/python", layout.builder_config)
    # sshd itself accepts it (-t: test mode).
    sshd.ensure_host_keys(layout)
    layout.config.write_text(text)
    done = subprocess.run([sshd.SSHD, "-t", "-f", str(layout.config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sshd_config_verb_prints_the_snippet_for_a_system_sshd(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_SCHEDULER": "memory"}
    done = subprocess.run([sys.executable, "-m", "app_layer.cli.main", "sshd-config"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Match User git" in done.stdout
    assert f"authorized-keys --config {tmp_path / 'sshd' / 'builder.json'} %f" in done.stdout
    assert "    PasswordAuthentication no" in done.stdout
    assert (tmp_path / "sshd" / "builder.json").stat().st_mode & 0o077 == 0  # it holds the builder key
    # A system sshd accepts its config with the snippet appended (-t: test mode).
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(tmp_path / "host_key")], check=True)
    (tmp_path / "sshd_config").write_text(f"HostKey {tmp_path / 'host_key'}\n" + done.stdout)
    checked = subprocess.run([sshd.SSHD, "-t", "-f", str(tmp_path / "sshd_config")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_registry_config(tmp_path: Path):
    config = yaml.safe_load(registry.render_config(tmp_path / "store", "127.0.0.1:5999"))
    assert config["http"]["addr"] == "127.0.0.1:5999"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "store")
    assert registry.is_local("127.0.0.1:5000", "0.0.0.0") and not registry.is_local("registry.example:5000", "h")


def test_hook_reads_its_updates_and_is_installed_quoted(tmp_path: Path):
    zero, sha = "0" * 40, "a" * 40
    assert hook.parse_updates(f"{zero} {sha} refs/heads/master\n\n") == [hook.Update(zero, sha, "refs/heads/master")]
    odd = "/odd path/py'thon"
    assert shlex.split(repos.hook_script(odd).splitlines()[1]) == ["exec", odd, "-m", "app_layer.builds.hook"]
    path = repos.ensure_repo(tmp_path, "my-app")
    assert (path / "hooks" / "pre-receive").stat().st_mode & 0o111
    with pytest.raises(ValueError):
        repos.repo_path(tmp_path, "../etc")


def test_up_runs_the_registry_and_the_sshd(tmp_path: Path):
    from app_layer.builds.parts import builder_parts
    from app_layer.settings import Settings
    from app_layer.supervisor import Part

    settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_SSH_PORT": "2299",
                                  "APP_LAYER_REGISTRY": "127.0.0.1:5099"})
    parts = {part.name: part for part in builder_parts(settings, "127.0.0.1", Part)}
    assert parts["registry"].argv[-1] == "registry" and parts["registry"].url == "http://127.0.0.1:5099/v2/"
    if os.geteuid() == 0:  # not as root, up runs no sshd (it says so) and git goes over HTTP
        assert parts["sshd"].url == "ssh://git@127.0.0.1:2299/<app>.git"
    remote = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_REGISTRY": "registry.example:5000"})
    assert "registry" not in {part.name for part in builder_parts(remote, "127.0.0.1", Part)}
