"""The vendored charting library is the pinned build: its checksum, licence and notice in place,
and the page and reports load it from disk only."""

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor"


def pinned(name: str) -> str:
    return re.search(rf"^{name}=([0-9a-f]{{64}})$", (VENDOR / "refresh.sh").read_text(), re.M).group(1)


def test_the_vendored_build_is_the_pinned_one_with_its_licence_and_notice():
    build = VENDOR / "lightweight-charts.standalone.production.js"
    assert hashlib.sha256(build.read_bytes()).hexdigest() == pinned("BUILD_SHA256")
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    assert "TradingView" in (VENDOR / "NOTICE").read_text()
    version = re.search(r"^VERSION=(\S+)$", (VENDOR / "refresh.sh").read_text(), re.M).group(1)
    assert f"Lightweight Charts™ v{version}" in build.read_text()[:400]
    assert pinned("BUILD_SHA256") in (VENDOR / "README.md").read_text()


def test_the_page_loads_the_library_from_this_server(journal_path):
    from tests.web.conftest import serving
    from web.app import create_app

    with serving(create_app(str(journal_path))) as client:
        page = client.get("/").text
        assert '<script src="/static/vendor/lightweight-charts.standalone.production.js"' in page
        served = client.get("/static/vendor/lightweight-charts.standalone.production.js")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == pinned("BUILD_SHA256")
