#!/usr/bin/env bash
# Writes docs/search-page.png, the README's picture of the search page: the
# browser test's federation (20 results and more, near Bordeaux) in headless
# Chromium, signed in. Needs what `bash .ci/tools` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
MUTUA_SCREENSHOT="$PWD/docs/search-page.png" \
  cargo test --locked -p mutua-node --test web_browser -- --nocapture
