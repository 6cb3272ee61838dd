#!/usr/bin/env python3
"""Writes the test vectors from the byte tables in Specs/*.md.

This is an independent reference implementation of the formats (its own
CRC32C, its own layouts), so the Swift tests that decode and re-encode these
files compare two implementations, not one with itself. Run it only when a
format version changes, and review the diff.
"""
import hashlib
import struct

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF

def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def u128(v):
    return struct.pack('<QQ', v & (2**64 - 1), v >> 64)

def write(name, data, comment):
    with open(name, 'w') as f:
        f.write('# ' + comment + '\n')
        for i in range(0, len(data), 16):
            f.write(' '.join('%02x' % b for b in data[i:i + 16]) + '\n')

# data-model.md: createEntry, the wallet top-up of the worked example.
metadata = b'gw:ch_42'
entry = struct.pack('<BBHHHII', 3, 0, 1, 2, len(metadata), 0, 0) + u128(1001) + u128(0) + u128(0)
entry += u128(1) + u128(2500) + bytes([1]) + bytes(7)
entry += u128(2) + u128(2500) + bytes([2]) + bytes(7)
entry += metadata + bytes((-len(metadata)) % 8)
write('event-entry-posted.hex', entry, 'createEntry: id 1001, posted, code 1, debit 1 / credit 2 of 2500, metadata "gw:ch_42"')

# data-model.md: createAccount.
account = struct.pack('<BBHIH', 1, 0, 1, 840, 1) + bytes(6) + u128(2) + u128(0)
write('event-create-account.hex', account, 'createAccount: id 2, ledger 840, code 1, flags debitsMustNotExceedCredits, user data 0')

# data-model.md: expireHold (engine-generated).
expire = bytes([4]) + bytes(15) + u128(1002)
write('event-expire-hold.hex', expire, 'expireHold: the hold of pending entry 1002')

# data-model.md: closeAccount.
close = bytes([2]) + bytes(15) + u128(2)
write('event-close-account.hex', close, 'closeAccount: id 2')

# wal-format.md: file header (the 64 used bytes; bytes 64-4095 are zero).
epoch = bytes(range(16))
header = b'LDGRWAL\x00' + struct.pack('<IIQQ', 6, 4096, 65536, 1) + epoch + struct.pack('<I', 0) + bytes(8)
header += struct.pack('<I', mask(crc32c(header)))
write('wal-file-header.hex', header, 'WAL file header (version 6): 65536 bytes, first LSN 1, epoch 00..0f, chain seed 0')

# wal-format.md: group record with one batch holding the entry above.
timestamp = 1_700_000_000_000_000_000
results = bytes([0]) + bytes(7)
wal_directory_id = bytes(range(0xf0, 0x100))
chain0 = hashlib.sha256(b'LDGRCHAIN' + wal_directory_id).digest()
batches = struct.pack('<QII', timestamp, 1, len(entry)) + entry + results
zeroed = struct.pack('<IIQ', 1, 0, 0) + bytes(32) + batches
chain1 = hashlib.sha256(chain0 + struct.pack('<Q', 1) + zeroed).digest()
payload = struct.pack('<IIQ', 1, 0, 0) + chain1 + batches
record_header = struct.pack('<IBBHQI', len(payload), 1, 6, 0, 1, 0) + bytes(8)
epoch_seed = crc32c(epoch)
crc = mask(crc32c(payload, crc32c(record_header, epoch_seed)))
record = record_header + struct.pack('<I', crc) + payload
record += bytes((-len(record)) % 8)
write('wal-record-group.hex', record, 'WAL group record (version 6): LSN 1, previous CRC 0, committed LSN 0, chain value for directory id f0..ff, one batch (the entry above) at 1700000000000000000, result ok; epoch of wal-file-header.hex')
with open('wal-chain-1.txt', 'w') as f:
    f.write(chain1.hex() + '\n')

# wal-format.md: timeline record (type 3) after the group: timeline 2 forks
# from timeline 1 after LSN 1, carrying chain1; it is the second record of
# the file (previous CRC = the group's).
timeline_row = struct.pack('<QQQQ', 2, 1, 1, timestamp + 5) + chain1
timeline_header = struct.pack('<IBBHQI', len(timeline_row), 3, 6, 0, 2, crc) + bytes(8)
timeline_crc = mask(crc32c(timeline_row, crc32c(timeline_header, epoch_seed)))
timeline_record = timeline_header + struct.pack('<I', timeline_crc) + timeline_row
write('wal-record-timeline.hex', timeline_record, 'WAL timeline record (version 6): LSN 2 after the group of wal-record-group.hex, timeline 2 from 1 after LSN 1, clock 1700000000000000005, chain value of wal-chain-1.txt')

# replication.md, "The timeline history file": the row of the record above.
history = b'LDGRTLHI' + struct.pack('<II', 1, 1) + timeline_row
history += struct.pack('<I', mask(crc32c(history)))
write('timeline-history.hex', history, 'timeline-history (version 1): one row, timeline 2 from 1 after LSN 1 (the payload of wal-record-timeline.hex)')

# balance-index.md: slot of account 2 after the top-up.
slot = u128(2) + u128(0) + u128(0) + u128(2500) + u128(0) + u128(0)
slot += struct.pack('<IHHQQI', 840, 1, 1, 1_700_000_000_000_000_001, 1, 0)
slot += struct.pack('<I', mask(crc32c(slot)))
write('index-slot.hex', slot, 'index slot: account 2, ledger 840, code 1, flags 1, credits posted 2500, timestamp 1700000000000000001, slot LSN 1')

assert crc32c(b'123456789') == 0xE3069283

# data-model.md / Fingerprint.swift: the 56-bit fingerprint of the entry above
# (the low 56 bits of the mix; snapshots before format 5 stored all 64).
M = 2**64 - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M
def fingerprint64(data):
    h = (P3 + len(data)) & M
    for i in range(0, len(data), 8):
        w = struct.unpack_from('<Q', data, i)[0]
        w = (rotl((w * P2) & M, 31) * P1) & M
        h ^= w
        h = (rotl(h, 27) * P1 + P3) & M
    h ^= h >> 33; h = (h * P2) & M
    h ^= h >> 29; h = (h * P3) & M
    h ^= h >> 32
    return h
def fingerprint(data):
    return fingerprint64(data) & ((1 << 56) - 1)
with open('fingerprint-entry-posted.txt', 'w') as f:
    f.write('%d\n' % fingerprint(entry))

# segment-format.md: header for 2026-11 and one event record (the entry above).
directory_id = bytes(range(0xf0, 0x100))
seg_header = b'LDGRSEG\x00' + struct.pack('<IIHB', 3, 4096, 2026, 11) + bytes(5) + directory_id + struct.pack('<I', 0) + bytes(20) + bytes(32) + bytes(28)
assert len(seg_header) == 124
seg_header += struct.pack('<I', mask(crc32c(seg_header)))
write('segment-header.hex', seg_header, 'segment header (first 128 bytes of the 4096-byte page): 2026-11, directory id f0..ff, no previous month')
record_seed = crc32c(directory_id + struct.pack('<HB', 2026, 11))
seg_record_head = struct.pack('<IBBHQQI', len(entry), 1, 3, 0, 7, 1_795_219_200_000_000_000, 0)
seg_crc = mask(crc32c(entry, crc32c(seg_record_head, record_seed)))
seg_record = seg_record_head + struct.pack('<I', seg_crc) + entry
write('segment-record.hex', seg_record, 'segment event record: the entry of event-entry-posted.hex, LSN 7, timestamp 1795219200000000000 (2026-11-21T00:00:00Z), file 2026-11 of directory f0..ff')

# segment-format.md: frontier slot after that record.
frontier = struct.pack('<QQQI', 1, 4096 + len(seg_record), 7, 0)
frontier += struct.pack('<I', mask(crc32c(frontier, record_seed)))
write('segment-frontier.hex', frontier, 'segment frontier slot: generation 1, durable end 4280, last LSN 7, seeded with the record seed of segment-header.hex')

# segment-format.md: the seal record of a month holding only that record.
month_number = 2026 * 12 + 11 - 1
root = hashlib.sha256(b'LDGRMONTH' + directory_id + struct.pack('<I', month_number) + bytes(32) + seg_record).digest()
def balances(dp, cp, dq, cq):
    return b''.join(v.to_bytes(16, 'little') for v in (dp, cp, dq, cq))
ts = 1_795_219_200_000_000_000
position = (month_number << 40) | 4096
ledgers = struct.pack('<II', 840, 0) + (2500).to_bytes(16, 'little') + (2500).to_bytes(16, 'little')
accounts = ((1).to_bytes(16, 'little') + struct.pack('<IHHQ', 840, 0, 0, 0) + balances(2500, 0, 100, 0)
            + (2).to_bytes(16, 'little') + struct.pack('<IHHQ', 840, 0, 0, 0) + balances(0, 2500, 0, 100))
holds = ((77).to_bytes(16, 'little') + struct.pack('<QII', position, 2, 0)
         + (1).to_bytes(16, 'little') + (100).to_bytes(16, 'little') + bytes([1]) + bytes(7)
         + (2).to_bytes(16, 'little') + (100).to_bytes(16, 'little') + bytes([2]) + bytes(7))
body = ledgers + accounts + holds
seal_bytes = 144 + len(body) + 16
seal = struct.pack('<IBBHQ', 0, 2, 3, 0, seal_bytes) + struct.pack('<QQQQQII', 1, 7, 7, ts, ts, 0, 0) + bytes(32) + root
seal += struct.pack('<IIII', 1, 2, 1, 2) + body + struct.pack('<QI', seal_bytes, 0)
assert len(seal) == seal_bytes - 4
seal += struct.pack('<I', mask(crc32c(seal, record_seed)))
write('segment-seal.hex', seal, 'segment seal record after segment-record.hex (at offset 4280): 1 record, LSN 7, no previous month, ledger 840 moved 2500/2500, accounts 1 and 2, hold 77 of 100 open; month root = SHA-256("LDGRMONTH" || directory id || u32 month number 24321 || 32 zero bytes || segment-record.hex)')

# segment-format.md: the index file of that month.
M = (1 << 64) - 1
def bloom_probe(i, blocks):
    lo, hi = i & M, i >> 64
    h = ((lo * 0x9E3779B97F4A7C15) & M) ^ ((hi * 0xC2B2AE3D27D4EB4F) & M)
    h ^= h >> 31
    h = (h * 0xBF58476D1CE4E5B9) & M
    h ^= h >> 29
    block = h % blocks
    g = ((h >> 32) | (h << 32)) & M
    bits = []
    for _ in range(7):
        g = (g * 0x94D049BB133111EB + 0x2545F4914F6CDD1D) & M
        bits.append(g >> 55)
    return block, bits
refs = struct.pack('<QQQ', ts, 4096, 0)
acct_rows = b''
for n, (acct, opening, closing) in enumerate([(1, balances(0, 0, 0, 0), balances(2500, 0, 0, 0)), (2, balances(0, 0, 0, 0), balances(0, 2500, 0, 0))]):
    acct_rows += acct.to_bytes(16, 'little') + struct.pack('<QQQIHH', n, 1, 0, 840, 0, 0) + opening + closing
assert len(acct_rows) == 2 * 176
entries = (1001).to_bytes(16, 'little') + struct.pack('<Q', 4096)
bloom = bytearray(64)
block, bits = bloom_probe(1001, 1)
for b in bits:
    bloom[block * 64 + b // 8] |= 1 << (b % 8)
body = acct_rows + refs + refs + entries + bytes(bloom)
accounts_off = 4096
refs_off = accounts_off + len(acct_rows)
checkpoints_off = refs_off + 2 * 24
entries_off = checkpoints_off
bloom_off = entries_off + 24
crcs_off = bloom_off + 64
blocks = (crcs_off - 4096 + 4095) // 4096
file_bytes = crcs_off + ((blocks * 4 + 7) & ~7)
idx_header = b'LDGRMIX\x00' + struct.pack('<IIII', 2, 4096, month_number, 4096) + directory_id + root
idx_header += struct.pack('<QQQQQQII', 1, 2, 2, 0, 1, 1, 32, 0)
idx_header += struct.pack('<7Q', accounts_off, refs_off, checkpoints_off, entries_off, bloom_off, crcs_off, file_bytes)
idx_header += bytes(4092 - len(idx_header))
idx_header += struct.pack('<I', mask(crc32c(idx_header)))
crcs = b''.join(struct.pack('<I', mask(crc32c(body[i * 4096:(i + 1) * 4096]))) for i in range(blocks))
idx = idx_header + body + crcs + bytes(file_bytes - crcs_off - len(crcs))
assert len(idx) == file_bytes
write('segment-index.hex', idx, 'month index of the one-record month above (2026-11): accounts 1 and 2 (one event each, no checkpoints), entry 1001 at 4096, one bloom block')

# account-copy-format.md: the account-ordered copy of that month. Accounts 1
# and 2 each have the month's one record, so it is copied twice.
copy_records = seg_record + seg_record
copy_offsets_off = 4096 + len(copy_records)
copy_offsets = struct.pack('<3Q', 4096, 4096 + len(seg_record), copy_offsets_off)
copy_crcs_off = copy_offsets_off + len(copy_offsets)
copy_blocks = (len(copy_offsets) + 4095) // 4096
copy_crcs = b''.join(struct.pack('<I', mask(crc32c(copy_offsets[i * 4096:(i + 1) * 4096]))) for i in range(copy_blocks))
copy_crcs += bytes(((len(copy_crcs) + 7) & ~7) - len(copy_crcs))
copy_file_bytes = copy_crcs_off + len(copy_crcs)
copy_header = b'LDGRACP\x00' + struct.pack('<IIII', 1, 4096, month_number, 4096) + directory_id + root
copy_header += struct.pack('<4Q', 2, copy_offsets_off, copy_crcs_off, copy_file_bytes)
copy_header += bytes(4092 - len(copy_header))
copy_header += struct.pack('<I', mask(crc32c(copy_header)))
account_copy = copy_header + copy_records + copy_offsets + copy_crcs
assert len(account_copy) == copy_file_bytes
write('account-copy.hex', account_copy, 'account-ordered copy of the one-record month above (2026-11): refs 0 (account 1) and 1 (account 2) are both segment-record.hex; offsets 4096, %d, end %d' % (4096 + len(seg_record), copy_offsets_off))

# open-month-index-format.md: the index of that month saved at a clean close
# before it was sealed (its one record, covered end 4280). No holds.
omi_sections = [
    b'',                                                           # holds
    struct.pack('<II', 840, 0) + (2500).to_bytes(16, 'little') * 2,  # ledger totals
    b''.join(a.to_bytes(16, 'little') + struct.pack('<IHHQ', 840, 0, 0, 1) + balances(0, 0, 0, 0) + c
             for a, c in [(1, balances(2500, 0, 0, 0)), (2, balances(0, 2500, 0, 0))]),  # accounts
    struct.pack('<QQ', 0, 0),                                      # refs: record 0 for each account
    b'',                                                           # checkpoints
    (1001).to_bytes(16, 'little'),                                 # entry ids
    struct.pack('<Q', 4096),                                       # entry offsets
    struct.pack('<QQQ', ts, 4096, 0),                              # records
]
omi_file_bytes = 256 + sum(len(x) for x in omi_sections)
omi_header = b'LDGROMI\x00' + struct.pack('<IIII', 1, 256, month_number, 0) + directory_id
omi_header += struct.pack('<14Q', 4096 + len(seg_record), 1, 7, ts, 7, ts, 0, 0, 1, 2, 2, 0, 1, omi_file_bytes)
omi_header += b''.join(struct.pack('<I', mask(crc32c(x))) for x in omi_sections)
omi_header += root  # the month root so far: the month's one record
omi_header += bytes(252 - len(omi_header))
omi_header += struct.pack('<I', mask(crc32c(omi_header)))
open_month_index = omi_header + b''.join(omi_sections)
assert len(open_month_index) == omi_file_bytes
write('open-month-index.hex', open_month_index, 'open month index of the one-record month above (2026-11) saved at a clean close: covered end %d, 1 record (LSN 7), accounts 1 and 2 (one event each), entry 1001 at 4096, no holds' % (4096 + len(seg_record)))

# snapshot-format.md: the state after one batch (accounts 1 and 2, pending entry 1001).
t0 = 1_700_000_000_000_000_000
pending = struct.pack('<BBHHHII', 3, 1, 0, 2, 0, 0, 0) + u128(1001) + u128(0) + u128(0)
pending += u128(1) + u128(2500) + bytes([1]) + bytes(7)
pending += u128(2) + u128(2500) + bytes([2]) + bytes(7)
def snapshot_slot(account_id, dp, cp, dq, cq, ts, lsn):
    s = u128(account_id) + u128(0) + u128(dp) + u128(cp) + u128(dq) + u128(cq)
    s += struct.pack('<IHHQQI', 840, 1, 0, ts, lsn, 0)
    return s + struct.pack('<I', mask(crc32c(s)))
def snap_entries(fp):
    return u128(1001) + struct.pack('<QQBB', fp, t0 + 2, 1, 1) + bytes(6)
snap_slots = snapshot_slot(1, 0, 0, 2500, 0, t0, 1) + snapshot_slot(2, 0, 0, 0, 2500, t0 + 1, 1)
snap_body = b''
snap_body += u128(1001) + struct.pack('<QII', 0, 2, 0)
snap_body += struct.pack('<IB', 0, 1) + bytes(11) + u128(2500)
snap_body += struct.pack('<IB', 1, 2) + bytes(11) + u128(2500)
# Version 4: the filter of evicted ids (snapshot-format.md, "Evicted-id filter"):
# capacity 64 ids -> 2 blocks of 64 bytes, seed 0x0123456789abcdef, ids 7,
# 2^64 + 9 and 1001 inserted (the format stores bits; which ids they are is
# the engine's business).
M64 = (1 << 64) - 1
def filter_probes(id_, seed, block_count):
    lo, hi = id_ & M64, id_ >> 64
    h = (((lo ^ seed) * 0x9E3779B97F4A7C15) & M64) ^ ((hi * 0xC2B2AE3D27D4EB4F) & M64)
    h ^= h >> 31
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 29
    base = (h % block_count) * 8
    g = ((h >> 32) | (h << 32)) & M64
    for _ in range(7):
        g = (g * 0x94D049BB133111EB + 0x2545F4914F6CDD1D) & M64
        bit = g >> 55
        yield base + (bit >> 6), 1 << (bit & 63)
filter_seed, filter_capacity, filter_ids = 0x0123456789ABCDEF, 64, [7, (1 << 64) + 9, 1001]
filter_blocks = max(1, filter_capacity * 16 // 512)
filter_words = [0] * (8 * filter_blocks)
for fid in filter_ids:
    for w, m in filter_probes(fid, filter_seed, filter_blocks):
        filter_words[w] |= m
snap_body += b''.join(struct.pack('<Q', w) for w in filter_words)
# Version 5 stores 56-bit fingerprints; version 4 (still read, the top 8 bits
# ignored) stored all 64.
for version, fp, name, note in [(5, fingerprint(pending), 'snapshot.hex', ''), (4, fingerprint64(pending), 'snapshot-v4.hex', ' (format version 4: 64-bit fingerprint)')]:
    body = snap_slots + snap_entries(fp) + snap_body
    snap_header = b'LDGRSNAP' + struct.pack('<IIQQ', version, 4096, 1, t0 + 2) + directory_id
    snap_header += struct.pack('<QQQQQ', 2, 1, 1, 2, len(body)) + chain1 + hashlib.sha256(body).digest() + struct.pack('<QQ', 0, t0 + 2)  # version 3: resident window start (none), last successful event
    snap_header += struct.pack('<QQQQ', filter_seed, filter_capacity, len(filter_ids), filter_blocks)  # version 4: the filter of evicted ids
    snap_header += bytes(4092 - len(snap_header))
    snap_header += struct.pack('<I', mask(crc32c(snap_header)))
    write(name, snap_header + body, 'snapshot at LSN 1 of directory f0..ff%s: accounts 1 and 2 (ledger 840, code 1), pending entry 1001 of 2500 from 1 to 2 without timeout, created at 1700000000000000000; chain head = wal-chain-1.txt; filter of evicted ids: capacity 64, seed 0x0123456789abcdef, ids 7, 2^64+9, 1001' % note)

# archive-format.md: the one-record month above, sealed, then archived with
# the zstd and lz4 command-line tools (an implementation independent of ours).
import os, subprocess, tempfile
sealed_end = 4096 + len(seg_record) + len(seal)
sealed_frontier = struct.pack('<QQQI', 1, sealed_end, 7, 0)
sealed_frontier += struct.pack('<I', mask(crc32c(sealed_frontier, record_seed)))
page = bytearray(4096)
page[0:128] = seg_header
page[1024:1056] = sealed_frontier
sealed_segment = bytes(page) + seg_record + seal
assert len(sealed_segment) == sealed_end
write('segment-sealed.hex', sealed_segment, 'sealed one-record month 2026-11: header page (frontier slot 0: generation 1, durable end %d, LSN 7), segment-record.hex, segment-seal.hex' % sealed_end)

def compress(tool, data):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'frame')
        with open(path, 'wb') as f:
            f.write(data)
        if tool == 'zstd':  # content size (known from the file) and checksum are the CLI's defaults; made explicit
            args = ['zstd', '-q', '-3', '--check', '--content-size', '-c', path]
        else:
            args = ['lz4', '-q', '-1', '--content-size', '-c', path]  # content checksum is lz4's default
        return subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout

for tool, codec, level in (('zstd', 1, 3), ('lz4', 2, 0)):
    cuts = [(0, 4096 + len(seg_record)), (4096 + len(seg_record), sealed_end)]
    frames = b''
    index = b''
    for start, end in cuts:
        compressed = compress(tool, sealed_segment[start:end])
        index += struct.pack('<QQIIII', start, 4096 + len(frames), end - start, len(compressed), mask(crc32c(compressed)), 0)
        frames += compressed
    index_offset = 4096 + len(frames)
    arc_header = b'LDGRARC\x00' + struct.pack('<IBBHHBBI', 1, codec, level, 0, 2026, 11, 0, len(cuts)) + directory_id
    arc_header += struct.pack('<QQII', sealed_end, index_offset, mask(crc32c(index)), 4096) + root + bytes(28)
    assert len(arc_header) == 124
    arc_header += struct.pack('<I', mask(crc32c(arc_header)))
    archive = arc_header + bytes(4096 - 128) + frames + index
    write('archive-%s.hex' % tool, archive, 'segment-sealed.hex archived with the %s CLI (codec %d, level %d, frame target 4096): frame 0 = segment bytes 0..<%d, frame 1 = the seal' % (tool, codec, level, 4096 + len(seg_record)))

# protocol.md: frames (32-byte header: magic, version, operation, request id,
# body bytes, body CRC, status, zero, header CRC) and bodies.
def frame(operation, request_id, body, status=0, version=1):
    head = b'LDGP' + struct.pack('<HHQII', version, operation, request_id, len(body), mask(crc32c(body))) + struct.pack('<HH', status, 0)
    assert len(head) == 28
    return head + struct.pack('<I', mask(crc32c(head))) + body

key_id = b'dev'
secret = bytes(range(32))
hello = struct.pack('<HHHH', 1, 1, len(key_id), len(secret)) + key_id + secret
write('protocol-hello.hex', frame(1, 1, hello), 'hello request, id 1, versions 1...1, key id "dev", secret 00..1f')
submit_body = struct.pack('<II', 1, len(entry)) + entry
write('protocol-submit.hex', frame(3, 2, submit_body), 'submitEntries request, id 2, the entry of event-entry-posted.hex')
write('protocol-results.hex', frame(3, 2, bytes([0]) + bytes(7)), 'submitEntries reply to id 2, status ok, results [ok]')
write('protocol-busy.hex', frame(3, 3, b'queue full', status=8), 'reply to request 3, status busy (8), message "queue full"')
ids_body = struct.pack('<II', 2, 0) + u128(1) + u128(2)
write('protocol-lookup-accounts.hex', frame(4, 4, ids_body), 'lookupAccounts request, id 4, ids 1 and 2')
history_query = u128(2) + struct.pack('<QQQII', 1_700_000_000_000_000_000, (1 << 64) - 1, 0, 100, 0)
write('protocol-history-query.hex', frame(6, 5, history_query), 'accountHistory request, id 5, account 2, from 1700000000000000000, no end, first page, limit 100')
balance_query = u128(2) + struct.pack('<QQ', 1_700_000_000_000_000_000, 0)
write('protocol-balance-query.hex', frame(7, 6, balance_query), 'balanceAsOf request, id 6, account 2, as of 1700000000000000000')
# Protocol version 2 (read-your-writes): hello offering 1...2, a write reply
# with its commit LSN, a read with a minimum LSN and a wait, `behind`.
hello_v2 = struct.pack('<HHHH', 1, 2, len(key_id), len(secret)) + key_id + secret
write('protocol-v2-hello.hex', frame(1, 1, hello_v2), 'hello request, id 1, versions 1...2, key id "dev", secret 00..1f')
write('protocol-v2-results.hex', frame(3, 2, struct.pack('<Q', 4242) + bytes([0]) + bytes(7), version=2), 'version 2 submitEntries reply to id 2, status ok, committed at LSN 4242, results [ok]')
read_prefix = struct.pack('<QII', 4242, 5000, 0)
write('protocol-v2-lookup-accounts.hex', frame(4, 4, read_prefix + ids_body, version=2), 'version 2 lookupAccounts request, id 4, minimum LSN 4242, wait 5000 ms, ids 1 and 2')
admin_archive = struct.pack('<HHI', 4, 0, 8) + struct.pack('<HBBi', 2026, 9, 1, 3)
write('protocol-admin-archive.hex', frame(12, 8, admin_archive), 'admin request, id 8: archive the sealed months before 2026-09 with zstd level 3')
write('protocol-v2-behind.hex', frame(4, 4, b'applied LSN 4000 < 4242', status=20, version=2), 'version 2 reply to request 4, status behind (20), message "applied LSN 4000 < 4242"')

# ledger-meta.md: ledger.meta of a directory with 64 MiB WAL files and a
# one-month resident window (version 2), and the same directory as version 1
# wrote it (no window field: read as two months).
meta = b'LDGRMETA' + struct.pack('<II', 2, 65536) + bytes(range(0xf0, 0x100)) + struct.pack('<I', 1) + bytes(24)
meta += struct.pack('<I', mask(crc32c(meta)))
write('ledger-meta.hex', meta, 'ledger.meta (version 2): WAL files of 65536 KiB, directory id f0..ff, resident window 1 month')
meta = b'LDGRMETA' + struct.pack('<II', 1, 65536) + bytes(range(0xf0, 0x100)) + bytes(28)
meta += struct.pack('<I', mask(crc32c(meta)))
write('ledger-meta-v1.hex', meta, 'ledger.meta (version 1): WAL files of 65536 KiB, directory id f0..ff (resident window 2 months)')

# replication.md: the replicate request, each stream message and the
# standby's status, each in a frame (operation 9 or 10, request id 7).
replicate = wal_directory_id + struct.pack('<QQ', 1, 1) + chain1
write('replication-replicate.hex', frame(9, 7, replicate), 'replicate request, id 7: directory f0..ff, timeline 1, last durable LSN 1, chain value of wal-chain-1.txt')
def message(kind, body):
    return struct.pack('<B3xI', kind, len(body)) + body
write('replication-wal-file.hex', frame(9, 7, message(1, header)), 'stream message walFile to request 7: the header of wal-file-header.hex')
write('replication-wal-records.hex', frame(9, 7, message(2, struct.pack('<QQ', 1, 4096) + record)), 'stream message walRecords to request 7: LSN 1 at offset 4096, the record of wal-record-group.hex')
write('replication-heartbeat.hex', frame(9, 7, message(3, struct.pack('<QQB7x', 1, 1_700_000_000_000_000_000, 1))), 'stream message heartbeat to request 7: durable LSN 1, clock 1700000000000000000, reply requested')
# base backup (operation 11): start, a file, its data, the end.
write('replication-backup-start.hex', frame(11, 7, message(4, struct.pack('<QQ', 123_456, 5))), 'base backup message backupStart to request 7: image of 123456 bytes in 5 files')
backup_name = b'segments/2026-11.seg'
write('replication-backup-file.hex', frame(11, 7, message(5, struct.pack('<QQH6x', 4_160, 4_160, len(backup_name)) + backup_name)), 'base backup message backupFile to request 7: segments/2026-11.seg, 4160 bytes copied of 4160')
write('replication-backup-data.hex', frame(11, 7, message(6, struct.pack('<Q', 4_096) + bytes(range(64)))), 'base backup message backupData to request 7: bytes 00..3f at offset 4096')
write('replication-backup-end.hex', frame(11, 7, message(7, struct.pack('<QQ', 2, 41))), 'base backup message backupEnd to request 7: snapshot LSN 2, last LSN 41')
# replication.md, "The slots file": two slots, repl at 41 and old at 7 (invalidated).
def slot(key, lsn, flags):
    return struct.pack('<QII', lsn, flags, len(key)) + key + bytes(64 - len(key)) + bytes(8)
slots = b'LDGRSLOT' + struct.pack('<II', 1, 2) + slot(b'repl', 41, 0) + slot(b'old', 7, 1)
slots += struct.pack('<I', mask(crc32c(slots)))
write('replication-slots.hex', slots, 'replication-slots (version 1): repl at LSN 41; old at LSN 7, invalidated')
standby_status = struct.pack('<QQQQ', 1, 1, 1_700_000_000_000_000_001, 0)
write('replication-standby-status.hex', frame(10, 7, standby_status), 'standbyStatus, request id 7: durable LSN 1, applied LSN 1, clock 1700000000000000001')
