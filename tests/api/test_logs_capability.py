"""A scheduler without process output says so in the logs instead of showing a silent gap."""
from __future__ import annotations

from app_layer.backends.base import Capability


def test_logs_name_the_missing_capability(platform, owner):
    platform.backend.capabilities = frozenset(Capability) - {Capability.LOGS}
    app = owner.create_app()
    text = owner.get(f"/v1/apps/{app}/logs?log_lines=1").data.decode().splitlines()
    assert len(text) == 2
    assert text[-1].endswith("the memory scheduler does not expose process output; only platform events are shown")
    assert f"{app}[app-layer]: owner created {app}" in text[0]


def test_scale_that_the_engine_refuses_keeps_the_running_formation(platform, owner):
    from app_layer.errors import Unavailable

    app = owner.create_app()
    owner.post(f"/v1/apps/{app}/builds", {"image": "example/web:1", "procfile": {"web": "serve"}})
    original = platform.backend.deploy

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Unavailable("engine is down")

    platform.backend.deploy = refuse
    response = owner.post(f"/v1/apps/{app}/scale", {"web": 4})
    assert response.status_code == 503 and response.json == {"detail": "engine is down"}
    assert owner.get(f"/v1/apps/{app}").json["structure"] == {"web": 1}
    platform.backend.deploy = original
    assert owner.post(f"/v1/apps/{app}/scale", {"web": 2}).status_code == 204
    assert owner.get(f"/v1/apps/{app}").json["structure"] == {"web": 2}
