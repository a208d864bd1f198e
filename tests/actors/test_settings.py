"""settings.toml decodes into validated frozen structs; every mistake names its key path."""

import logging
from pathlib import Path

import msgspec
import pytest

from actors.logfmt import configure_logging
from vocabulary.settings import (
    DEFAULT_TUNE_RANGES,
    Secret,
    Settings,
    SettingsError,
    load_credentials,
    load_settings,
    secret_values,
    secret_enc_hook,
    summarise,
)

SHIPPED = Path(__file__).resolve().parents[2] / "settings.toml"


def error_of(text: str, env: dict[str, str] | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load_settings(text, env or {})
    return info.value


def test_the_shipped_file_is_valid_and_equals_the_defaults():
    # settings.toml shows every default: nothing hides in code that the file does not show.
    assert load_settings(SHIPPED.read_bytes(), {}) == Settings()


def test_the_shipped_file_names_every_setting():
    text = SHIPPED.read_text()
    for section in Settings.__struct_fields__:
        if section == "walkforward":  # the plan's plain keys, written under [tune]
            tune = text[text.index("[tune]"):]
            for key in type(Settings().walkforward).__struct_fields__:
                assert f"\n{key} = " in tune, f"tune.{key} missing from settings.toml's [tune]"
            continue
        assert f"[{section}]" in text
        if section == "tune":
            for key in Settings().tune:
                assert f'\n"{key}" = ' in text, f"tune range {key} missing from settings.toml"
            continue
        for key in type(getattr(Settings(), section)).__struct_fields__:
            assert f"\n{key} = " in text, f"{section}.{key} missing from settings.toml"


def test_settings_are_frozen():
    settings = load_settings("", {})
    with pytest.raises(AttributeError):
        settings.risk.leverage = 50  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "key_path", "words"),
    [
        ("[risk]\nleverage = 500", "risk.leverage = 500", "<= 100"),
        ("[risk]\nleverage = 0", "risk.leverage = 0", ">= 1"),
        ("[risk]\nleverage = \"5\"", "risk.leverage = '5'", "expected int"),
        ("[risk]\nrisk_per_trade = 0", "risk.risk_per_trade = 0", "> 0"),
        ("[bot]\nsymbols = [\"btcusdt\"]", "bot.symbols.0 = 'btcusdt'", "regex"),
        ("[bot]\nsymbols = [\"BTCUSD\"]", "bot.symbols.0 = 'BTCUSD'", "regex"),
        ("[bot]\ntimeframes = [1, 2]", "bot.timeframes.1 = 2", "one of 1, 3, 5, 15"),
        ("[bot]\ntimeframes = [3, 5]", "bot.timeframes = [3, 5]", "must include 1"),
        ("[bot]\nvenue = \"moon\"", "bot.venue = 'moon'", "'sim', 'testnet', 'demo', 'mainnet'"),
        ("[sim]\nspeed = -2", "sim.speed = -2", "> 0"),
        ("[web]\nport = 70000", "web.port = 70000", "<= 65535"),
        ("[strategy]\nwt_oversold = 10.0", "strategy.wt_oversold", "below 0"),
        ("bot = 3", "bot = 3", "expected object"),
    ],
)
def test_a_bad_value_names_its_key_path_and_value(text, key_path, words):
    error = error_of(text)
    assert str(error).startswith(f"settings.toml: {key_path}")
    assert words in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "key_path", "words"),
    [
        ("[strategy]\nwt_ma = 1", "strategy.wt_ma = 1", "cross_based and pre_cross could never fire"),
        ("[strategy]\nscore_min = 3.8", "strategy.score_min = 3.8", "out of reach of ha_reversal"),
        ("[strategy]\nbase_pre_cross = -3.0", "strategy.score_min", "out of reach of pre_cross: its base -3.0"),
        ("[strategy]\nmin_net_rr = 1.6", "strategy.min_net_rr = 1.6", "above rr 1.5"),
        ("[risk]\nmin_stop_cost_multiple = 22.0", "risk", "no stop could be placed"),
        ("[risk]\nmin_stop_cost_multiple = 0.5", "risk.min_stop_cost_multiple = 0.5", ">= 1"),
        ("[risk]\nstop_floor = \"tight\"", "risk.stop_floor = 'tight'", "'widen', 'reject'"),
        ("[strategy]\nstop_buffer_ticks = 2", "strategy.stop_buffer_ticks", "did you mean 'strategy.stop_buffer_bps'"),
        ("[strategy]\nmin_stop_ticks = 5", "strategy.min_stop_ticks", "unknown key"),
    ],
)
def test_a_combination_that_leaves_a_path_unreachable_or_a_retired_tick_setting_is_refused(text, key_path, words):
    error = error_of(text)
    assert str(error).startswith(f"settings.toml: {key_path}")
    assert words in str(error)


def test_the_shipped_cost_floor_sits_inside_max_stop_pct_and_the_tune_ranges_name_the_bps_settings():
    shipped = load_settings(SHIPPED.read_bytes(), {})
    assert shipped.risk.min_stop_cost_multiple * shipped.risk.round_trip() < shipped.strategy.max_stop_pct
    assert shipped.tune["strategy.stop_buffer_bps"] == (0.0, 5.0) and shipped.tune["strategy.entry_offset_bps"] == (0.0, 3.0)


# --- [tune]: the search space of run.py tune ------------------------------------------------------


def test_the_default_search_space_is_the_shipped_tune_ranges():
    assert load_settings("", {}).tune == DEFAULT_TUNE_RANGES
    assert load_settings(SHIPPED.read_bytes(), {}).tune == DEFAULT_TUNE_RANGES
    assert DEFAULT_TUNE_RANGES["strategy.swing_lookback"] == (5, 20)
    assert type(DEFAULT_TUNE_RANGES["strategy.swing_lookback"][0]) is int


def test_a_range_of_an_int_setting_stays_int_and_of_a_float_setting_becomes_float():
    tune = load_settings('[tune]\n"strategy.rr" = [1, 3]\n"risk.cooldown_bars" = [2, 9]', {}).tune
    assert tune == {"strategy.rr": (1.0, 3.0), "risk.cooldown_bars": (2, 9)}, "a file's [tune] is the whole space"
    assert [type(v) for v in (*tune["strategy.rr"], *tune["risk.cooldown_bars"])] == [float, float, int, int]


def test_an_override_replaces_one_range_and_keeps_the_others():
    # The name --overlay files use (backtest.cli.override_env): SMTBOT__TUNE__ + the quoted key.
    tune = load_settings(SHIPPED.read_bytes(), {"SMTBOT__TUNE__STRATEGY.RR": "[1.2, 2.4]"}).tune
    assert tune == {**DEFAULT_TUNE_RANGES, "strategy.rr": (1.2, 2.4)}


@pytest.mark.parametrize(
    ("text", "key_path", "words"),
    [
        ('"bot.port" = [1, 2]', "tune.bot.port", "unknown key; a range names a number setting of [strategy] or [risk]: strategy.wt_channel,"),
        ('"rr" = [1.0, 2.0]', "tune.rr", "unknown key; did you mean 'tune.strategy.rr'?"),
        ('"strategy.rrr" = [1.0, 2.0]', "tune.strategy.rrr", "unknown key; did you mean 'tune.strategy.rr'?"),
        ('"risk.risk_mode" = [1, 2]', "tune.risk.risk_mode", "risk.risk_mode is not a number setting"),
        ('strategy.rr = [1.0, 2.0]', "tune.strategy", 'key in quotes: "strategy.rr" = [low, high]'),
        ('"strategy.rr" = 2.0', "tune.strategy.rr = 2.0", "expected [low, high], two numbers"),
        ('"strategy.rr" = [1.0, 2.0, 3.0]', "tune.strategy.rr = [1.0, 2.0, 3.0]", "expected [low, high]"),
        ('"strategy.rr" = [true, 2.0]', "tune.strategy.rr = [True, 2.0]", "expected [low, high]"),
        ('"strategy.rr" = [2.0, 2.0]', "tune.strategy.rr = [2.0, 2.0]", "low must be below high"),
        ('"strategy.rr" = [3.0, 1.0]', "tune.strategy.rr = [3.0, 1.0]", "low must be below high"),
        ('"strategy.wt_oversold" = [-inf, -35.0]', "tune.strategy.wt_oversold = [-inf, -35.0]", "finite"),
        ('"strategy.swing_lookback" = [5, 20.5]', "tune.strategy.swing_lookback = [5, 20.5]", "is an int: both bounds must be integers"),
        ('"strategy.swing_lookback" = [5.0, 20]', "tune.strategy.swing_lookback = [5.0, 20]", "is an int"),
        ('"strategy.rr" = [0.0, 3.0]', "tune.strategy.rr = [0.0, 3.0]", "low 0.0 is not a valid strategy.rr: expected float > 0"),
        ('"strategy.entry_ttl_bars" = [0, 3]', "tune.strategy.entry_ttl_bars = [0, 3]", "low 0 is not a valid strategy.entry_ttl_bars: expected int >= 1"),
        ('"risk.leverage" = [1, 101]', "tune.risk.leverage = [1, 101]", "high 101 is not a valid risk.leverage: expected int <= 100"),
        ('"strategy.wt_oversold" = [-75.0, 5.0]', "tune.strategy.wt_oversold = [-75.0, 5.0]", "high 5.0 is not a valid strategy.wt_oversold: must be below 0"),
    ],
)
def test_a_bad_tune_range_names_its_key_and_value(text, key_path, words):
    error = error_of(f"[tune]\n{text}")
    assert str(error).startswith(f"settings.toml: {key_path}: ")
    assert words in str(error)
    assert "\n" not in str(error)


def test_a_tune_section_that_is_not_a_table_is_refused():
    assert str(error_of("tune = 3")) == 'settings.toml: tune = 3: expected a table of "section.key" = [low, high]'


def test_an_unknown_key_suggests_the_nearest_known_one():
    error = error_of("[risk]\nlevrage = 5")
    assert str(error) == "settings.toml: risk.levrage: unknown key; did you mean 'risk.leverage'?"


def test_an_unknown_section_is_rejected():
    assert "unknown key" in str(error_of("[strategyy]\nrr = 2.0"))
    assert "did you mean 'strategy'" in str(error_of("[strategyy]\nrr = 2.0"))


def test_a_toml_syntax_error_is_one_line():
    error = error_of("[risk\nleverage = 5")
    assert str(error).startswith("settings.toml: TOML syntax error")
    assert "\n" not in str(error)


def test_non_utf8_bytes_are_rejected_clearly():
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(b"[bot]\nvenue = \"\xff\"", {})


def test_environment_overrides_are_typed_like_toml():
    settings = load_settings(
        "[risk]\nleverage = 3",
        {
            "SMTBOT__RISK__LEVERAGE": "7",
            "SMTBOT__BOT__SYMBOLS": '["BTCUSDT", "ETHUSDT"]',
            "SMTBOT__BOT__VENUE": "testnet",
            "SMTBOT__SIM__SPEED": "60",
            "SMTBOT__BOT__PAPER": "true",
            "UNRELATED": "x",
        },
    )
    assert settings.risk.leverage == 7
    assert settings.bot.symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.bot.venue == "testnet"
    assert settings.sim.speed == 60.0
    assert settings.bot.paper is True


def test_a_bad_environment_override_fails_like_a_bad_file_value_naming_the_variable():
    assert str(error_of("", {"SMTBOT__RISK__LEVERAGE": "0"})) == "environment: SMTBOT__RISK__LEVERAGE = 0: expected int >= 1"
    assert str(error_of("", {"SMTBOT__RISK__LEVRAGE": "3"})) == (
        "environment: SMTBOT__RISK__LEVRAGE: unknown key; did you mean SMTBOT__RISK__LEVERAGE?")
    assert "SMTBOT__SECTION__KEY" in str(error_of("", {"SMTBOT__RISK": "3"}))


def test_a_bad_value_in_the_file_is_still_the_files_even_with_other_overrides_set():
    error = error_of("[risk]\nleverage = 0\n", {"SMTBOT__RISK__COOLDOWN_BARS": "2"})
    assert str(error).startswith("settings.toml: risk.leverage = 0")


def test_credentials_are_optional_for_the_simulator_only():
    assert load_credentials({}, "sim") is None
    with pytest.raises(SettingsError, match="BYBIT_API_KEY and BYBIT_API_SECRET"):
        load_credentials({}, "mainnet")
    with pytest.raises(SettingsError, match="BYBIT_API_SECRET"):
        load_credentials({"BYBIT_API_KEY": "k"}, "testnet")


SECRET = "s3cr3t-VALUE-never-shown"


def test_a_secret_never_shows_in_repr_str_format_or_json():
    creds = load_credentials({"BYBIT_API_KEY": "key-123", "BYBIT_API_SECRET": SECRET}, "mainnet")
    assert creds.api_secret.reveal() == SECRET
    shown = [repr(creds), str(creds), f"{creds.api_secret}", f"{creds.api_secret!r}", str(creds.api_secret)]
    shown.append(msgspec.json.encode(creds, enc_hook=secret_enc_hook).decode())
    for text in shown:
        assert SECRET not in text and "key-123" not in text
    assert '"***"' in shown[-1]


def test_a_secret_refuses_to_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(SECRET))


def test_the_summary_masks_every_credential():
    settings = load_settings("", {})
    creds = load_credentials({"BYBIT_API_KEY": "key-123", "BYBIT_API_SECRET": SECRET}, "demo")
    text = "\n".join(summarise(settings, creds))
    for hidden in (SECRET, "key-123", settings.sim.api_secret, settings.sim.api_key):
        assert hidden not in text
    assert "risk.leverage = 10" in text
    assert "tune.strategy.rr = [1.0, 3.0]" in text and "tune.risk.cooldown_bars = [0, 15]" in text


def test_no_log_record_ever_carries_a_secret(caplog):
    settings = load_settings("", {})
    creds = load_credentials({"BYBIT_API_KEY": "key-123", "BYBIT_API_SECRET": SECRET}, "demo")
    configure_logging("DEBUG", secret_values(settings, creds))
    log = logging.getLogger("smtbot.test")
    with caplog.at_level(logging.DEBUG):
        log.info("signing with %s", SECRET)
        log.warning(f"raw {SECRET} and key-123 and {settings.sim.api_secret}")
        log.info("extra field", extra={"secret_field": SECRET})
        try:
            raise RuntimeError(f"boom {SECRET}")
        except RuntimeError:
            log.exception("failed")
    assert len(caplog.records) == 4
    for record in caplog.records:
        text = record.getMessage() + str(record.__dict__)
        assert SECRET not in text and "key-123" not in text and settings.sim.api_secret not in text
    assert "***" in caplog.records[0].getMessage()
