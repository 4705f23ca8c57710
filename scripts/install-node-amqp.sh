#!/usr/bin/env bash
# Install the npm packages the AMQP interop tests run under Node (rhea), pinned in
# tests/interop/amqp/node/package-lock.json. Idempotent: npm runs only when node_modules
# is missing or older than the lock file. Node and npm come from scripts/install-browser.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
dir=tests/interop/amqp/node
if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "install-node-amqp: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund)
    touch "$dir/node_modules"
fi
echo "install-node-amqp: done"
