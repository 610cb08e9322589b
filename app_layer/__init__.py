"""app-layer: a twelve-factor application platform (Heroku's workflow, Deis v1's API)."""

__version__ = "0.1.0"
#: The Deis v1 controller API version this platform answers as (the v1.13 controller).
API_VERSION = "1.7"
