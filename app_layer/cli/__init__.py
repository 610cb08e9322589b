"""The ``app-layer`` command: operator verbs (``up``, ``server``, ``migrate``) and Deis-style user verbs."""
