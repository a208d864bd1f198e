"""The shared signer reproduces the spec's test vectors (bybit-v5.md §1.3)."""

import pytest

from exchange.signing import is_in_time_window, is_valid_signature, sign, sign_ws_auth

SECRET, KEY, TS, RW = "test-secret", "test-key", 1700000000000, 5000


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("category=linear&symbol=BTCUSDT", "9a7c8cfd6ba1a7c498aa4dd5a7f9cfbba01fcb6eebae734ffe0d775870a1a3fb"),
        (
            '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
            '"price":"30000","timeInForce":"PostOnly","orderLinkId":"t-1"}',
            "c81849c11695ea99921af698fc04e1357e7db0dbc989c8c492215396d02ec081",
        ),
        ('{"category":"linear","symbol":"BTCUSDT"}', "16378a8ca3caa3c068e2e74ef209dad5c036fec4047c7582ddcfcf13323a8275"),
        ('{"category": "linear", "symbol": "BTCUSDT"}', "177f3487fe097e5cc0a9f3222ce02de6da7fac3c38bbf1be05cb53e5ff19144c"),
        ("", "d8d5e71d8f986368aa5c13405f059ab6adb4f41df59d2f11bb056226b63457d6"),
    ],
)
def test_signature_matches_the_spec_vector(payload, expected):
    assert sign(SECRET, TS, KEY, RW, payload) == expected
    assert is_valid_signature(SECRET, str(TS), KEY, str(RW), payload.encode(), expected.upper())


def test_a_body_signed_with_other_whitespace_does_not_verify():
    good = sign(SECRET, TS, KEY, RW, '{"category":"linear","symbol":"BTCUSDT"}')
    assert not is_valid_signature(SECRET, str(TS), KEY, str(RW), b'{"category": "linear", "symbol": "BTCUSDT"}', good)


def test_ws_auth_signature_matches_the_spec_vector():
    assert sign_ws_auth(SECRET, 1700000005000) == "4343ac53a3dafc0ec96562c63a7899f56be48a0e2ab052e07ae410e8f5472338"


@pytest.mark.parametrize(
    ("timestamp", "accepted"),
    [(TS - 5000, True), (TS - 5001, False), (TS + 999, True), (TS + 1000, False), (TS, True)],
)
def test_time_window_edges(timestamp, accepted):
    assert is_in_time_window(timestamp, TS, 5000) is accepted
