#!/usr/bin/env bash
# What fresh memory costs on this machine: first touch of anonymous pages
# against touching them again, and writing new page-cache pages against
# overwriting cached ones (Benchmarks/RESULTS.md, issue 13, session 12).
set -euo pipefail
python3 - <<'PY'
import mmap, time
for _ in range(3):
    m = mmap.mmap(-1, 1 << 30)
    t = time.time()
    for i in range(0, 1 << 30, 4096): m[i] = 1
    fresh = time.time() - t
    t = time.time()
    for i in range(0, 1 << 30, 4096): m[i] = 2
    again = time.time() - t
    print("fresh anonymous 1 GiB: %.2f s (%.2f us a page); touched again: %.2f s" % (fresh, fresh / 262144 * 1e6, again))
    m.close()
PY
F=$(mktemp /tmp/fresh-pages.XXXX)
echo "new page-cache pages:"; dd if=/dev/zero of="$F" bs=1M count=2000 2>&1 | tail -1
echo "the same pages overwritten:"; dd if=/dev/zero of="$F" bs=1M count=2000 conv=notrunc 2>&1 | tail -1
rm -f "$F"
