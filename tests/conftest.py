"""Suite-wide guards: no test leaves an actor running (pykka's registry is process-global),
and no test hangs the run."""

import faulthandler
import os

import pykka
import pytest


@pytest.fixture(autouse=True)
def no_actor_left_behind():
    yield
    alive = pykka.ActorRegistry.get_all()
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    assert not alive, f"the test left actors running: {[ref.actor_class.__name__ for ref in alive]}"


@pytest.fixture(autouse=True)
def no_test_hangs_the_suite():
    """A test that hangs (a third-party client waiting forever) fails the run with every
    thread's traceback instead of stalling CI until its own timeout."""
    faulthandler.dump_traceback_later(1800 if os.environ.get("SMTBOT_SOAK") else 300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
