"""Suite-wide guards: no test leaves an actor running (pykka's registry is process-global)."""

import pykka
import pytest


@pytest.fixture(autouse=True)
def no_actor_left_behind():
    yield
    alive = pykka.ActorRegistry.get_all()
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    assert not alive, f"the test left actors running: {[ref.actor_class.__name__ for ref in alive]}"
