"""WSGI entry point for production servers: ``app_layer.wsgi:application`` (settings from the environment)."""
from __future__ import annotations

from app_layer.api import create_app
from app_layer.platform import Platform
from app_layer.settings import Settings

application = create_app(Platform.build(Settings.from_env()))
