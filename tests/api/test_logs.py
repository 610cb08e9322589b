"""Logs: the Deis 1.13 Go client gets text/plain, the 1.9 Python client (python-requests) a JSON string."""
from __future__ import annotations

import json

GO_CLIENT = {"User-Agent": "Deis Client v1.13.4"}
PYTHON_CLIENT = {"User-Agent": "python-requests/2.5.1 CPython/2.7.18 Linux/5.10"}


def _logs(account, app: str, agent: dict[str, str], query: str = ""):  # type: ignore[no-untyped-def]
    return account.client.get(f"/v1/apps/{app}/logs{query}", headers={**account.headers, **agent})


def _with_history(owner) -> str:  # type: ignore[no-untyped-def]
    app = owner.create_app()
    for n in range(3):
        assert owner.post(f"/v1/apps/{app}/config", {"values": {f"K{n}": "v"}}).status_code == 201
    return app


def test_go_client_gets_plain_text_lines(owner):
    app = _with_history(owner)
    response = _logs(owner, app, GO_CLIENT)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.data.decode().splitlines()
    assert lines[0].endswith(f"{app}[app-layer]: owner created {app}")
    assert lines[-1].endswith(f"{app}[app-layer]: v4 created: owner added K2")
    assert all(line.split(" ", 1)[0].endswith("Z") for line in lines)  # ISO timestamps, UTC


def test_python_client_gets_a_json_encoded_string(owner):
    app = _with_history(owner)
    response = _logs(owner, app, PYTHON_CLIENT)
    assert response.status_code == 200 and response.mimetype == "application/json"
    text = json.loads(response.data)
    assert isinstance(text, str)
    assert text.split("\n")[:-1] == _logs(owner, app, GO_CLIENT).data.decode().splitlines()  # what the CLI does


def test_log_lines_limits_to_the_newest(owner):
    app = _with_history(owner)
    lines = _logs(owner, app, GO_CLIENT, "?log_lines=2").data.decode().splitlines()
    assert len(lines) == 2 and lines[-1].endswith("owner added K2")
    assert _logs(owner, app, GO_CLIENT, "?log_lines=0").status_code == 204
    for bad in ("-1", "abc", "100001", "1.5"):
        response = _logs(owner, app, GO_CLIENT, f"?log_lines={bad}")
        assert response.status_code == 400 and list(response.json) == ["log_lines"], bad


def test_logs_need_access(client, owner, stranger):
    app = _with_history(owner)
    assert _logs(stranger, app, GO_CLIENT).status_code == 403
    assert client.get(f"/v1/apps/{app}/logs").status_code == 401
    assert _logs(owner, "no-such-app", GO_CLIENT).status_code == 404
