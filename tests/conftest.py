"""Suite-wide guards: no test leaves an actor running (pykka's registry is process-global),
and a hung test fails that test, not the run."""

import faulthandler
import os

import pykka
import pytest

SOAK = bool(os.environ.get("SMTBOT_SOAK"))
# pytest-timeout (pyproject.toml) fails a test that runs past this with every thread's stack.
TEST_TIMEOUT_S = 1800 if SOAK else 300


def pytest_collection_modifyitems(config, items):
    if SOAK:
        for item in items:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


@pytest.fixture(autouse=True)
def no_actor_left_behind():
    yield
    alive = pykka.ActorRegistry.get_all()
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    assert not alive, f"the test left actors running: {[ref.actor_class.__name__ for ref in alive]}"


@pytest.fixture(autouse=True)
def no_test_hangs_the_suite():
    """Backstop behind pytest-timeout: a hang its signal cannot interrupt (a C call that never
    returns to Python) still ends the run with every thread's traceback, never silently."""
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S * 2, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
