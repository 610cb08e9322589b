"""The log archive and Docker's timestamped line format (pure, no engine)."""
from __future__ import annotations

from pathlib import Path

from app_layer.backends import docker_logs
from app_layer.backends.base import LogLine
from app_layer.backends.docker_logs import LogArchive, parse_docker_line, parse_docker_output
from app_layer.backends.health import check_path


def test_docker_lines_keep_their_time_and_source() -> None:
    line = parse_docker_line("2026-11-22T05:11:31.610540146Z listening on 5000", "web.1")
    assert line == LogLine(1795324291.610540146, "web.1", "listening on 5000")
    assert parse_docker_line("not a timestamp", "web.1") is None
    assert [x.message for x in parse_docker_output(b"2026-11-22T05:11:31Z a\r\n2026-11-22T05:11:32.5Z b c\n", "x")] \
        == ["a", "b c"]


def test_archive_tail_returns_the_newest_lines_in_order(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path)
    archive.append("shop", [LogLine(float(i), "web.1", f"line {i}") for i in range(5000)])
    assert [x.message for x in archive.tail("shop", 3)] == ["line 4997", "line 4998", "line 4999"]
    assert len(archive.tail("shop", 10_000)) == 5000
    assert archive.tail("other", 5) == [] and archive.tail("shop", 0) == []
    archive.remove("shop")
    assert archive.tail("shop", 5) == []


def test_archive_is_capped(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(docker_logs, "MAX_BYTES", 10_000)
    archive = LogArchive(tmp_path)
    for i in range(100):
        archive.append("shop", [LogLine(float(i), "web.1", "x" * 200)])
    assert archive.path("shop").stat().st_size <= 10_000
    assert archive.tail("shop", 1)[0].time == 99.0


def test_healthcheck_url_paths() -> None:
    assert check_path("") == "" and check_path("/health") == "/health" and check_path("health") == "/health"
    assert check_path("http://localhost:5000/ping?deep=1") == "/ping?deep=1"
