#!/bin/bash
# Install Kannel 1.4.5 (bearerbox, smsbox) and kannel-extras (fakesmsc) for the Kannel tests
# (pytest -m kannel). Idempotent: does nothing but check when they are already there.
# The Debian package ships /etc/init.d/kannel, which would start a bearerbox on the fixed ports 13000/13002
# as user kannel: the tests start their own on free loopback ports, so that service is stopped and
# disabled here. Needs root (CI and the developers' machines run as root); without root it only reports.
set -euo pipefail

need_install=0
for bin in /usr/sbin/bearerbox /usr/sbin/smsbox /usr/lib/kannel/test/fakesmsc; do
    [ -x "$bin" ] || need_install=1
done

if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-kannel: Kannel is missing and this is not root; the Kannel tests will be skipped" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # an old or missing package list makes the install fail: refresh it once
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends kannel kannel-extras >/dev/null
fi

# Stop and disable the packaged service if it runs or would run at boot (harmless when absent).
if [ "$(id -u)" = 0 ] && [ -x /etc/init.d/kannel ]; then
    /etc/init.d/kannel stop >/dev/null 2>&1 || true
    update-rc.d kannel disable >/dev/null 2>&1 || true
fi

for bin in /usr/sbin/bearerbox /usr/sbin/smsbox /usr/lib/kannel/test/fakesmsc; do
    if [ ! -x "$bin" ]; then
        echo "install-kannel: $bin is still missing" >&2
        exit 1
    fi
done
echo "install-kannel: $(/usr/sbin/bearerbox --version 2>&1 | head -n 1 || true) ready"
