#!/usr/bin/env bash
# Installs the Debian tools tinypdm uses, when they are missing and we are root.
# Not root: prints what is missing and carries on (tests needing them skip outside CI,
# fail in CI).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have influxd || need+=(influxdb)
have socat || need+=(socat)
have arm-none-eabi-gcc || need+=(gcc-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib/libc.a ] || need+=(libnewlib-arm-none-eabi)
have qemu-system-arm || need+=(qemu-system-arm)
have chromium || need+=(chromium)
have chromedriver || need+=(chromium-driver)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    echo "tinypdm: missing Debian packages (install as root): ${need[*]}" >&2
    exit 0
fi
echo "tinypdm: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's influxdb package starts a system service on :8086; tinypdm starts its own.
if have systemctl; then systemctl disable --now influxdb >/dev/null 2>&1 || true; fi
