"""The Vagrant recipe cannot boot here (no VMs), so CI checks what it can: the Vagrantfile parses
(``ruby -c``), evaluates against a stub of Vagrant's configuration API to the cluster the README
describes, and every provisioning script passes ``shellcheck``."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

VAGRANT = Path(__file__).resolve().parents[2] / "vagrant"
SCRIPTS = sorted((VAGRANT / "provision").glob("*.sh"))

# Records what the Vagrantfile asks for, with just enough of Vagrant's API to evaluate it.
STUB = r"""
require "json"
class Recorder
  attr_reader :calls
  def initialize(calls = {}) = @calls = calls
  def method_missing(name, *args, **kw, &block)
    key = name.to_s.delete_suffix("=")
    if block
      child = Recorder.new
      block.call(child)
      (@calls[key] ||= []) << {"args" => args.map(&:to_s), "kw" => kw.transform_keys(&:to_s), "calls" => child.calls}
      return
    end
    if name.to_s.end_with?("=") then @calls[key] = args.first
    elsif args.empty? && kw.empty? then (@calls[key] ||= Recorder.new({})) ; return @calls[key]
    else (@calls[key] ||= []) << {"args" => args.map(&:to_s), "kw" => kw.transform_keys(&:to_s)}
    end
  end
  def respond_to_missing?(*) = true
  def to_json(*a) = @calls.to_json(*a)
end
module Vagrant
  def self.require_version(*) = nil
  def self.configure(_version, &block)
    config = Recorder.new
    block.call(config)
    puts JSON.generate(config.calls)
  end
end
load ARGV[0]
"""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/test-packages.txt lists it)")
    return path


def test_the_vagrantfile_is_valid_ruby() -> None:
    result = subprocess.run([tool("ruby"), "-c", str(VAGRANT / "Vagrantfile")], capture_output=True, text=True)
    assert result.returncode == 0 and "Syntax OK" in result.stdout, result.stderr


def test_the_vagrantfile_defines_the_three_node_cluster(tmp_path: Path) -> None:
    stub = tmp_path / "stub.rb"
    stub.write_text(STUB)
    result = subprocess.run([tool("ruby"), str(stub), str(VAGRANT / "Vagrantfile")], capture_output=True,
                            text=True, cwd=VAGRANT, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    nodes = {d["args"][0]: d["calls"] for d in config["vm"]["define"]}
    assert sorted(nodes) == ["node1", "node2", "node3"]

    def steps(node: str) -> list[str]:
        return [p["args"][0] for p in nodes[node]["vm"]["provision"]]

    assert steps("node1") == ["common", "zookeeper", "mesos-master", "marathon", "mesos-agent", "app-layer"]
    assert steps("node2") == steps("node3") == ["common", "mesos-agent"]
    ips = {n: c["vm"]["network"][0]["kw"]["ip"] for n, c in nodes.items()}
    assert ips == {"node1": "192.168.56.11", "node2": "192.168.56.12", "node3": "192.168.56.13"}
    paths = {p["kw"]["path"] for n in nodes for p in nodes[n]["vm"]["provision"]}
    assert paths == {f"provision/{s.name}" for s in SCRIPTS}   # every script used, none missing
    env = nodes["node2"]["vm"]["provision"][1]["kw"]["env"]
    assert env["MASTER_IP"] == "192.168.56.11" and env["NODE_IP"] == "192.168.56.12"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_provisioning_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run([tool("shellcheck"), "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert script.stat().st_mode & 0o111, "provisioning scripts are executable"
