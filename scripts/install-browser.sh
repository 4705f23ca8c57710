#!/usr/bin/env bash
# Install what the browser interop tests need: Debian's chromium (driven headless by
# playwright-core, never a browser build of its own) and the npm packages pinned in
# tests/interop/browser/package-lock.json (@stomp/stompjs, mqtt, playwright-core).
# Idempotent: apt-get runs only when chromium is missing, npm only when node_modules is
# missing or older than the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    echo "install-browser: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
else
    echo "install-browser: chromium, node and npm already installed"
fi

dir=tests/interop/browser
if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "install-browser: npm ci in $dir"
    # playwright-core never downloads browsers; the tests launch /usr/bin/chromium
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    touch "$dir/node_modules"
fi
echo "install-browser: done"
