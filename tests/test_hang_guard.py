"""A hung test fails that test and the run still ends with its summary (pytest-timeout, set in
pyproject.toml): one hang must never cost the report of every other test."""

import subprocess
import sys
import textwrap


def test_a_hung_test_fails_alone_and_the_run_reports_the_rest(tmp_path):
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import threading

        def test_hangs():
            threading.Event().wait()  # waits for ever, as pybit's subscribe once did

        def test_passes():
            assert True
    """))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--timeout=2", "--timeout-method=signal", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout[-2000:]
    assert "Timeout" in run.stdout and "test_hangs" in run.stdout
