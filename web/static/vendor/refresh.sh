#!/bin/sh
# Refreshes (or, with --check, only verifies) the vendored TradingView Lightweight Charts:
# the standalone production build, its LICENSE and NOTICE. The page and the reports load this
# file from disk; nothing is fetched at run time. To move to a new version, set VERSION and
# both checksums from a reviewed `npm pack`, then run this script.
#   tarball: sha256 of lightweight-charts-$VERSION.tgz as the npm registry serves it
#   build:   sha256 of dist/lightweight-charts.standalone.production.js inside it
set -eu
VERSION=5.2.1
TARBALL_SHA256=64310292298df4dd527494865e5d91d447f8bb397b68de3912c2a6465025ee5e
BUILD_SHA256=e21cc5caa0226ef30bd8549c50b9ef926615f2a4ee6b4e486353477a55f598cf
BUILD=lightweight-charts.standalone.production.js

here=$(cd "$(dirname "$0")" && pwd)

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ "${1:-}" = "--check" ]; then
	actual=$(sha "$here/$BUILD")
	[ "$actual" = "$BUILD_SHA256" ] || { echo "vendor: $BUILD is $actual, expected $BUILD_SHA256 (v$VERSION)"; exit 1; }
	[ -s "$here/LICENSE" ] && [ -s "$here/NOTICE" ] || { echo "vendor: LICENSE or NOTICE missing"; exit 1; }
	echo "vendor: lightweight-charts v$VERSION verified"
	exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "vendor: npm is needed to refresh (apt-get install -y npm)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lightweight-charts@$VERSION" >/dev/null)
tgz="$work/lightweight-charts-$VERSION.tgz"
actual=$(sha "$tgz")
[ "$actual" = "$TARBALL_SHA256" ] || { echo "vendor: the registry's tarball is $actual, expected $TARBALL_SHA256: not installed"; exit 1; }
tar -xzf "$tgz" -C "$work"
actual=$(sha "$work/package/dist/$BUILD")
[ "$actual" = "$BUILD_SHA256" ] || { echo "vendor: $BUILD in the tarball is $actual, expected $BUILD_SHA256: not installed"; exit 1; }
cp "$work/package/dist/$BUILD" "$here/$BUILD"
cp "$work/package/LICENSE" "$here/LICENSE"
# The npm package ships no NOTICE; upstream's (github.com/tradingview/lightweight-charts/NOTICE) reads:
printf 'TradingView Lightweight Charts\nCopyright (c) 2023 TradingView, Inc. https://www.tradingview.com/\n' > "$here/NOTICE"
echo "vendor: lightweight-charts v$VERSION installed and verified"
