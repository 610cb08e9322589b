"""The benchmarks are scripts no test runs to the end (they need a quiet machine and minutes); this
checks that each one still imports and parses its options, so a refactor cannot break one unseen."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda path: path.stem)
def test_bench_imports_and_describes_its_options(script: Path):
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=BENCH.parent)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout
    assert "--" in done.stdout.split("options:", 1)[-1], done.stdout  # at least one option of its own
