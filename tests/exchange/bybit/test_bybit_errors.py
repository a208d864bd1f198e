"""Every retCode of bybit-v5.md §8 has a handling, and each handling its typed exception."""

from __future__ import annotations

import pytest

from exchange.bybit import errors
from exchange.bybit.errors import Handling, error_for, handling_for

# bybit-v5.md §8, class column: R retry, W ambiguous write, I already done, N rejected, F fatal,
# "reconcile" = resync. 10000/10016 are "R for reads, W for writes".
SPEC = {
    10000: "R/W", 10001: "N", 10002: "R", 10003: "F", 10004: "F", 10005: "F", 10006: "R", 10010: "F",
    10014: "W", 10016: "R/W", 10017: "F", 33004: "F", 34040: "I", 110001: "reconcile", 110003: "N",
    110004: "N", 110007: "N", 110008: "reconcile", 110012: "N", 110017: "reconcile", 110020: "N",
    110024: "N", 110025: "I", 110028: "N", 110043: "I", 110057: "N", 110064: "N", 110072: "I",
    110079: "R", 110092: "N", 110093: "N", 110094: "N", 170213: "reconcile",
    # Not in §8; Bybit's error page: 10429 "system level frequency protection", and the UTA
    # envelope's 429 "system busy / high load": both retried with backoff.
    10429: "R", 429: "R",
}
CLASS = {"R": Handling.RETRY, "W": Handling.AMBIGUOUS, "I": Handling.ALREADY_DONE, "N": Handling.REJECTED,
         "F": Handling.FATAL, "reconcile": Handling.RESYNC}


def test_the_table_covers_exactly_the_codes_of_the_spec():
    assert set(errors.RET_CODES) == set(SPEC)


@pytest.mark.parametrize(("code", "cls"), sorted(SPEC.items()))
def test_each_code_is_handled_as_the_spec_says(code, cls):
    read, _, write = cls.partition("/")
    assert handling_for(code) is CLASS[read]
    assert handling_for(code, is_write=True) is CLASS[write or read]
    exc = error_for(code, "text", path="/v5/x", is_write=bool(write))
    assert exc.handling is CLASS[write or read]
    assert (exc.ret_code, exc.ret_msg, exc.path) == (code, "text", "/v5/x")
    assert str(exc) == f"Bybit {code} on /v5/x: text"


def test_special_codes_get_their_own_types():
    assert isinstance(error_for(10002, ""), errors.TimestampError)
    limited = error_for(10006, "Too many visits!", reset_ms=123)
    assert isinstance(limited, errors.RateLimitedError) and limited.reset_ms == 123
    assert isinstance(error_for(429, "HTTP 429", http_status=429), errors.RateLimitedError)
    for busy in (10429, 429):  # a body code, whatever the HTTP status said
        assert isinstance(error_for(busy, "System busy"), errors.BusyError)
        assert isinstance(error_for(busy, "System busy", is_write=True, http_status=500), errors.BusyError)
    assert isinstance(error_for(403, "HTTP 403", http_status=403), errors.IpBannedError)
    for status in (401, 404):
        assert isinstance(error_for(status, f"HTTP {status}", http_status=status), errors.FatalError)


def test_an_unknown_code_is_a_rejection_never_a_blind_retry():
    assert handling_for(999_999) is Handling.REJECTED and handling_for(999_999, is_write=True) is Handling.REJECTED
    assert isinstance(error_for(999_999, "new"), errors.RejectedError)
    assert str(error_for(110094, "")) == "Bybit 110094: notional below minNotionalValue"


def test_the_readme_documents_every_code_the_client_handles():
    from pathlib import Path

    readme = (Path(errors.__file__).parent / "README.md").read_text()
    rows = {line.split("|")[1].strip().split(" ")[0] for line in readme.splitlines() if line.startswith("| ") and line[2].isdigit()}
    assert {str(code) for code in errors.RET_CODES} <= rows
