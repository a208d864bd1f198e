"""run.py: exit codes and messages a user sees, in a real subprocess."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTBOT__", "BYBIT_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return str(path)


def test_check_prints_a_readable_summary_and_exits_zero():
    result = run_py("check")
    assert result.returncode == 0, result.stderr
    assert "risk.leverage = 10" in result.stdout
    assert "smtbot-sim-secret" not in result.stdout + result.stderr


def test_check_never_prints_live_credentials():
    result = run_py("check", env={"BYBIT_API_KEY": "live-key-abc", "BYBIT_API_SECRET": "live-secret-xyz"})
    assert "live-secret-xyz" not in result.stdout + result.stderr
    assert "live-key-abc" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[risk\nleverage = 5", "TOML syntax error"),
        ("[risk]\nlevrage = 5", "risk.levrage: unknown key; did you mean 'risk.leverage'?"),
        ("[risk]\nleverage = \"ten\"", "risk.leverage = 'ten': expected int, got str"),
        ("[risk]\nleverage = 101", "risk.leverage = 101: expected int <= 100"),
    ],
)
def test_a_malformed_settings_file_exits_2_with_one_line_and_no_traceback(tmp_path, text, expected):
    result = run_py("--settings", write(tmp_path, text), "check")
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_settings_file_exits_2(tmp_path):
    result = run_py("--settings", str(tmp_path / "nope.toml"), "check")
    assert result.returncode == 2
    assert "cannot read settings" in result.stderr


def test_a_live_venue_without_keys_exits_2_naming_the_variables():
    result = run_py("check", env={"SMTBOT__BOT__VENUE": "mainnet"})
    assert result.returncode == 2
    assert "BYBIT_API_KEY" in result.stderr


def test_help_lists_every_command():
    result = run_py("--help")
    assert result.returncode == 0
    for command in ("run", "check", "backtest", "tune", "replay", "download", "sim", "indicators"):
        assert command in result.stdout


def test_an_unknown_command_is_a_usage_error():
    assert run_py("fly").returncode == 2


@pytest.mark.parametrize(("argv", "command"), [
    (["backtest", "--to", "2025-06-04"], "backtest"),
    (["--settings", "other.toml", "tune", "--help"], "tune"),
    (["--settings=other.toml", "indicators", "in.csv"], "indicators"),
    ([], None),
    (["--help"], None),
    (["fly"], None),
    (["--settings"], None),
])
def test_the_command_is_read_before_any_command_module_is_imported(argv, command):
    code = ("import sys, run; named = run.command_named(sys.argv[1:]); run.build_parser(named or 'indicators'); "
            "print(named, 'actors.supervisor' in sys.modules, 'backtest.tune' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # Only the named command's module is imported to read its options (the supervisor alone is ~0.3 s).
    assert done.stdout.split() == [str(command), str(command == "run"), str(command == "tune")]


def test_a_commands_help_shows_its_own_options():
    result = run_py("backtest", "--help")
    assert result.returncode == 0 and "--faithful" in result.stdout and "--processes" in result.stdout


def test_a_usage_error_before_the_command_is_the_whole_parsers_to_say():
    result = run_py("--settings")
    assert result.returncode == 2 and result.stderr.startswith("usage: run.py [-h] [--settings FILE] COMMAND")
    assert "--settings: expected one argument" in result.stderr
