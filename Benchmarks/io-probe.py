# What this disk gives a history page (issue 13, target 6), with the page
# cache dropped first (root): one random 4 KiB read; 130 records scattered
# over 90 MB of a segment, all asked for with posix_fadvise(WILLNEED) and
# then read (what a cold page of 100 does today); one contiguous 23 KB read
# (what a page would cost with an account's records laid out together).
# Usage: python3 Benchmarks/io-probe.py <a sealed month's .seg file>
import os, random, time, sys
f = sys.argv[1]
fd = os.open(f, os.O_RDONLY)
size = os.fstat(fd).st_size
os.system("sync; echo 3 > /proc/sys/vm/drop_caches")
random.seed(1)
lat = []
for i in range(300):
    off = random.randrange(0, size - 4096) & ~4095
    t = time.perf_counter(); os.pread(fd, 512, off); lat.append(time.perf_counter() - t)
lat.sort(); print("single random 4K read: p50 %.3f ms p99 %.3f ms" % (lat[150]*1e3, lat[297]*1e3))
batch = []
for i in range(200):
    base = random.randrange(0, size - 100_000_000)
    offs = sorted(random.randrange(base, base + 90_000_000) for _ in range(130))
    t = time.perf_counter()
    for o in offs: os.posix_fadvise(fd, o, 512, os.POSIX_FADV_WILLNEED)
    for o in offs: os.pread(fd, 176, o)
    batch.append(time.perf_counter() - t)
batch.sort(); print("130 scattered records in 90 MB, fadvise then read: p50 %.3f ms p99 %.3f ms max %.3f" % (batch[100]*1e3, batch[198]*1e3, batch[-1]*1e3))
seq = []
for i in range(200):
    o = random.randrange(0, size - 100_000) & ~4095
    t = time.perf_counter(); os.pread(fd, 23000, o); seq.append(time.perf_counter() - t)
seq.sort(); print("one contiguous 23 KB read: p50 %.3f ms p99 %.3f ms" % (seq[100]*1e3, seq[198]*1e3))
