#!/usr/bin/env bash
# The smp Unet test fixtures' weights (45-95 MB each, real encoder widths) are not committed: PyTorch
# regenerates them bit-exactly from tools/make_smp_fixtures.py, checked against the sha256 that each
# committed io file records. Quick when they are already there. Used by `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "smp-weights: no PyTorch at /usr/bin/python3 (bash scripts/setup-system.sh --torch): the smp Unet tests will say which files are missing" >&2
  exit 0
fi
/usr/bin/python3 tools/make_smp_fixtures.py --weights >&2
