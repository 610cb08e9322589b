"""The shared backend contract (``tests/backends/test_contract.py``) run against the Marathon backend, for
every verb Marathon has; one-off runs and logs are not claimed (``test_backend.py`` checks that, and destroy)."""
from __future__ import annotations

from tests.backends.test_contract import (  # noqa: F401 - collected here with the Marathon harness
    test_a_config_change_replaces_every_process,
    test_a_crashed_process_is_replaced_by_deploying_again,
    test_a_failing_health_check_keeps_the_old_release_serving,
    test_deploy_runs_exactly_the_formation,
    test_deploying_the_same_thing_twice_changes_nothing,
    test_restart_keeps_the_processes_up,
    test_rollback_is_a_new_release_with_the_old_config,
    test_scale_up_and_down_keeps_running_processes,
)
