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
header = b'LDGRWAL\x00' + struct.pack('<IIQQ', 3, 4096, 65536, 1) + epoch + struct.pack('<I', 0) + bytes(8)
header += struct.pack('<I', mask(crc32c(header)))
write('wal-file-header.hex', header, 'WAL file header (version 3): 65536 bytes, first LSN 1, epoch 00..0f, chain seed 0')

# wal-format.md: group record with one batch holding the entry above.
timestamp = 1_700_000_000_000_000_000
results = bytes([0]) + bytes(7)
wal_directory_id = bytes(range(0xf0, 0x100))
chain0 = hashlib.sha256(b'LDGRCHAIN' + wal_directory_id).digest()
batches = struct.pack('<QII', timestamp, 1, len(entry)) + entry + results
zeroed = struct.pack('<IIQ', 1, 0, 0) + bytes(32) + batches
chain1 = hashlib.sha256(chain0 + struct.pack('<Q', 1) + zeroed).digest()
payload = struct.pack('<IIQ', 1, 0, 0) + chain1 + batches
record_header = struct.pack('<IBBHQI', len(payload), 1, 3, 0, 1, 0) + bytes(8)
epoch_seed = crc32c(epoch)
crc = mask(crc32c(payload, crc32c(record_header, epoch_seed)))
record = record_header + struct.pack('<I', crc) + payload
record += bytes((-len(record)) % 8)
write('wal-record-group.hex', record, 'WAL group record (version 3): LSN 1, previous CRC 0, committed LSN 0, chain value for directory id f0..ff, one batch (the entry above) at 1700000000000000000, result ok; epoch of wal-file-header.hex')
with open('wal-chain-1.txt', 'w') as f:
    f.write(chain1.hex() + '\n')

# balance-index.md: slot of account 2 after the top-up.
slot = u128(2) + u128(0) + u128(0) + u128(2500) + u128(0) + u128(0)
slot += struct.pack('<IHHQQI', 840, 1, 1, 1_700_000_000_000_000_001, 1, 0)
slot += struct.pack('<I', mask(crc32c(slot)))
write('index-slot.hex', slot, 'index slot: account 2, ledger 840, code 1, flags 1, credits posted 2500, timestamp 1700000000000000001, slot LSN 1')

assert crc32c(b'123456789') == 0xE3069283

# data-model.md / Fingerprint.swift: the 64-bit fingerprint of the entry above.
M = 2**64 - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M
def fingerprint(data):
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
with open('fingerprint-entry-posted.txt', 'w') as f:
    f.write('%d\n' % fingerprint(entry))

# segment-format.md: header for 2026-11 and one event record (the entry above).
directory_id = bytes(range(0xf0, 0x100))
seg_header = b'LDGRSEG\x00' + struct.pack('<IIHB', 3, 4096, 2026, 11) + bytes(5) + directory_id + bytes(20)
seg_header += struct.pack('<I', mask(crc32c(seg_header)))
write('segment-header.hex', seg_header, 'segment header: 2026-11, directory id f0..ff')
record_seed = crc32c(directory_id + struct.pack('<HB', 2026, 11))
seg_record_head = struct.pack('<IBBHQQI', len(entry), 1, 3, 0, 7, 1_795_219_200_000_000_000, 0)
seg_crc = mask(crc32c(entry, crc32c(seg_record_head, record_seed)))
seg_record = seg_record_head + struct.pack('<I', seg_crc) + entry
write('segment-record.hex', seg_record, 'segment event record: the entry of event-entry-posted.hex, LSN 7, timestamp 1795219200000000000 (2026-11-21T00:00:00Z), file 2026-11 of directory f0..ff')

# segment-format.md: frontier slot after that record.
frontier = struct.pack('<QQQI', 1, 4096 + len(seg_record), 7, 0)
frontier += struct.pack('<I', mask(crc32c(frontier, record_seed)))
write('segment-frontier.hex', frontier, 'segment frontier slot: generation 1, durable end 4280, last LSN 7, seeded with the record seed of segment-header.hex')
