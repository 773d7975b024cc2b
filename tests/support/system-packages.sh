#!/usr/bin/env bash
# The Debian packages some tests drive for real: Chromium (the browser journey, through Playwright,
# which never downloads a browser of its own), nginx (the compose reverse proxy), promtool (the
# Prometheus configuration), openssl (nginx's first-start certificate) and an emoji font. Installed with apt when
# missing; without root or apt, the tests that need them are skipped locally (and fail in CI).
set -uo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
# Emoji in people's messages and names: without a colour emoji font Chromium draws empty boxes on the
# screenshots (staff browsers have one).
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
echo "Installing ${missing[*]} with apt for the tests"
# Never start the services these packages bring: the tests start what they need themselves.
policy=/usr/sbin/policy-rc.d
if [ -z "$sudo" ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && trap 'rm -f "$policy"' EXIT
fi
if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the tests that need them will be skipped (or fail in CI)"
fi
exit 0
