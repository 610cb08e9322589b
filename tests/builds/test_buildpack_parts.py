"""The buildpack builder's pure parts: the stack recipe, what reaches build containers, Procfiles."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app_layer.builds import buildpack, stack
from app_layer.builds.config import BuilderConfig, passthrough_env
from app_layer.builds.dockerfile import BuildFailed
from app_layer.errors import ValidationError


def test_stack_recipe_names_no_mirror_and_uses_the_host_sources():
    argv = stack.mmdebstrap_argv(Path("/tmp/rootfs.tar"))
    assert argv[0] == "mmdebstrap"
    assert not any("://" in arg for arg in argv)  # the host's apt sources decide where packages come from
    sources = stack.host_sources()
    assert sources and argv[-len(sources):] == sources  # passed as files: mmdebstrap pastes them in
    assert "--variant=minbase" in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    include = next(a for a in argv if a.startswith("--include="))
    assert {"python3-venv", "nodejs", "npm", "busybox", "ca-certificates"} <= set(include[10:].split(","))


def test_stack_tag_is_derived_from_its_contents():
    assert stack.tag() == stack.tag()
    assert stack.tag().startswith("app-layer/stack:")
    assert stack.tag(stack.PACKAGES + ("jq",)) != stack.tag()


def test_passthrough_keeps_proxies_and_index_settings_but_not_host_paths():
    chosen = passthrough_env({"HTTPS_PROXY": "http://proxy.test:3128", "no_proxy": "localhost",
                              "PIP_INDEX_URL": "https://index.test/simple", "npm_config_registry": "https://npm.test/",
                              "PIP_FIND_LINKS": "/opt/wheels", "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
                              "HOME": "/root", "APP_LAYER_BUILDER_KEY": "secret", "PIP_EMPTY": ""})
    assert chosen == {"HTTPS_PROXY": "http://proxy.test:3128", "no_proxy": "localhost",
                      "PIP_INDEX_URL": "https://index.test/simple", "npm_config_registry": "https://npm.test/"}


def test_builder_config_carries_the_build_environment_through_its_file_and_env(tmp_path: Path):
    config = BuilderConfig("http://127.0.0.1:1", "k", "/r", "/l", "127.0.0.1:5000", "",
                           '{"HTTPS_PROXY": "http://proxy.test:3128"}')
    again = BuilderConfig.read(config.write(tmp_path / "builder.json"))
    assert again.build_environment() == {"HTTPS_PROXY": "http://proxy.test:3128"}
    assert BuilderConfig.from_env(config.to_env()) == config
    older = {k: v for k, v in config.to_env().items() if not k.endswith("BUILD_ENV")}
    assert BuilderConfig.from_env(older).build_environment() == {}


def test_procfile_types_override_the_buildpack_defaults():
    release = "default_process_types:\n  web: python app.py\n  worker: python worker.py\n"
    merged = buildpack.merge_procfile("web: gunicorn app:app\nrelease: python migrate.py\n", release)
    assert merged == {"web": "gunicorn app:app", "worker": "python worker.py", "release": "python migrate.py"}
    assert buildpack.merge_procfile(None, "") == {}
    with pytest.raises(ValidationError):
        buildpack.merge_procfile("web: [unclosed\n", release)


def test_a_local_buildpack_must_be_under_an_allowed_directory(tmp_path: Path):
    pack = tmp_path / "allowed" / "pack"
    (pack / "bin").mkdir(parents=True)
    assert buildpack.buildpack_dirs(str(pack), tmp_path, print, (str(tmp_path / "allowed"),)) == {"custom": pack}
    for url in ("/", "/usr", str(pack) + "/../../../..", str(tmp_path)):
        with pytest.raises(BuildFailed, match="APP_LAYER_BUILDPACK_PATHS"):
            buildpack.buildpack_dirs(url, tmp_path, print, (str(tmp_path / "allowed"),))
    with pytest.raises(BuildFailed, match="APP_LAYER_BUILDPACK_PATHS"):
        buildpack.buildpack_dirs(str(pack), tmp_path, print)  # nothing allowed: no local buildpacks


@pytest.mark.parametrize("url", ["relative/path", "buildpack", "ftp://example.test/pack.git",
                                 "file:///var/lib/app-layer/repos/other.git", "ext::sh -c id",
                                 "https://example.test/pack.git#--upload-pack=id"])
def test_buildpack_url_must_be_a_git_url_or_an_absolute_path(url: str, tmp_path: Path):
    with pytest.raises(BuildFailed, match="BUILDPACK_URL"):
        buildpack.buildpack_dirs(url, tmp_path, print)


def test_builtin_buildpacks_ship_the_heroku_api():
    for name in buildpack.BUILTIN_ORDER:
        for step in ("detect", "compile", "release"):
            assert (buildpack.BUILTIN / name / "bin" / step).is_file(), (name, step)


def test_config_values_become_files_of_the_env_dir(tmp_path: Path):
    buildpack.config_files({"GREETING": "hi", "../escape": "no", "N": 3}, tmp_path / "env")
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == ["GREETING", "N"]
    assert (tmp_path / "env" / "N").read_text() == "3"


def test_stack_build_verb_reuses_the_image_this_engine_has(stack_image: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_LAYER_")}
    env["APP_LAYER_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "app_layer.cli.main", "stack", "build"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{stack_image} exists already")
