#!/usr/bin/env bash
# Install what the OpenWire interop tests need: a JDK (javac) and the ActiveMQ 5.x JMS
# client jars from Debian (libactivemq-java). Idempotent: does nothing when everything is
# already present; runs `apt-get update` at most once per invocation.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -e /usr/share/java/activemq-client.jar ] || need+=(libactivemq-java)

if [ ${#need[@]} -eq 0 ]; then
    echo "install-java-deps: java, javac and libactivemq-java already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install-java-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "install-java-deps: done"
