#!/usr/bin/env bash
# Run the whole test suite, lab included: installs what it needs first (root, Debian).
#   sudo bash scripts/test.sh            # everything
#   sudo bash scripts/test.sh -m "not lab"   # fast tests only (recorded facts)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# pytest exits 5 when nothing was collected; that is a failure here, never a pass.
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
