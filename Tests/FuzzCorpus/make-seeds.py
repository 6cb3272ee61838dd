#!/usr/bin/env python3
"""Writes the fuzz seed corpus (Tests/FuzzCorpus/<target>/seed-*) from the
format vectors in Specs/vectors. Run it when a vector changes; inputs the
fuzzer adds and crash regressions live beside the seeds and are kept."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, '..', '..', 'Specs', 'vectors')

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF

def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def vector(name):
    with open(os.path.join(VECTORS, name)) as f:
        return bytes(int(b, 16) for line in f if not line.startswith('#') for b in line.split())

def seed(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, 'seed-' + name), 'wb') as f:
        f.write(data)

# Protocol: whole frames, and bodies behind [operation - 1, reply bit].
operations = {'hello': 1, 'submit': 3, 'results': 3, 'lookup-accounts': 4, 'history-query': 6, 'balance-query': 7, 'busy': 3}
for name, op in operations.items():
    frame = vector('protocol-%s.hex' % name)
    seed('frame', name, frame)
    reply = 1 if name in ('results', 'busy') else 0
    seed('bodies', name, bytes([op - 1, reply]) + frame[32:])

# Events: [events per batch - 1] + a stream of events.
account = vector('event-create-account.hex')
entry = vector('event-entry-posted.hex')
close = vector('event-close-account.hex')
for name, data in (('create-account', account), ('entry', entry), ('close-account', close)):
    seed('events', name, bytes([0]) + data)
seed('events', 'mixed', bytes([2]) + account + entry + entry + close)

# WAL: the vectors' header and group record in an 8 KiB file (the header's
# size field rewritten, with its CRC).
header = vector('wal-file-header.hex')
record = vector('wal-record-group.hex')
def wal_file(file_bytes):
    h = bytearray(header)
    struct.pack_into('<Q', h, 16, file_bytes)
    struct.pack_into('<I', h, 60, mask(crc32c(bytes(h[:60]))))
    data = bytes(h) + bytes(4096 - len(h)) + record
    return data + bytes(file_bytes - len(data))
seed('wal', 'one-group-8k', wal_file(8192))
payload = record[32:32 + struct.unpack_from('<I', record, 0)[0]]
seed('wal-payloads', 'one-group', struct.pack('<H', len(payload)) + payload)
seed('wal-payloads', 'two-groups', (struct.pack('<H', len(payload)) + payload) * 2)

# Segment, month index, archives, snapshot, ledger.meta: whole files.
sealed = vector('segment-sealed.hex')
seed('segment', 'sealed', sealed)
seed('segment', 'open', sealed[:4096 + len(vector('segment-record.hex'))])
seed('month-index', 'one-record', vector('segment-index.hex'))
seed('account-copy', 'one-record', vector('account-copy.hex'))
seed('open-month-index', 'one-record', vector('open-month-index.hex'))
seed('archive', 'zstd', vector('archive-zstd.hex'))
seed('archive', 'lz4', vector('archive-lz4.hex'))
seed('snapshot', 'one-batch', vector('snapshot.hex'))
seed('ledger-meta', 'vector', vector('ledger-meta.hex'))
seed('ledger-meta', 'vector-v1', vector('ledger-meta-v1.hex'))

# post: the line shapes of docs/cli.md.
lines = [
    '{"id":"1001","postings":[{"account":"1","debit":"2500"},{"account":"2","credit":"2500"}],"code":1,"metadata":"gw:ch_42"}',
    '{"id":"0x3f2","postings":[{"account":"1","debit":"100"},{"account":"2","credit":"100"}],"kind":"pending","timeoutSeconds":60}',
    '{"id":1003,"postings":[{"account":"1","debit":"100"},{"account":"2","credit":"100"}],"kind":"postPending","pendingId":"1002","userData":"7"}',
    '{"createAccount":{"id":"1","ledger":840,"code":1,"flags":["debitsMustNotExceedCredits"],"userData":"0"}}',
    '{"closeAccount":"1"}',
    '{"id":"1","postings":[],"metadata":"\\u00e9\\ud83d\\ude00","kind":"voidPending","pendingId":"2"}',
]
for i, line in enumerate(lines):
    seed('post-json', 'readme-%d' % i, line.encode())

# A group that creates accounts 1 and 2 and posts the entry between them
# (results ok), so replay agrees with the log and recovery gets to the end.
account1 = bytearray(account)
account1[16] = 1
account1[2] = 0  # no balance limit (flags, u16 at 2): account 1 is the one debited
events = bytes(account1) + account + entry
rich = struct.pack('<IIQ', 1, 0, 0) + bytes(32) + struct.pack('<QII', 1_700_000_000_000_000_000, 3, len(events)) + events + bytes(8)

def sealed_wal(payloads, file_bytes):
    """The harness's FileFuzz.sealedWAL: records from LSN 1, CRC and hash chains."""
    epoch = bytes(range(16))
    h = bytearray(header)
    struct.pack_into('<Q', h, 16, file_bytes)
    struct.pack_into('<I', h, 60, mask(crc32c(bytes(h[:60]))))
    out = bytes(h) + bytes(4096 - len(h))
    chain = hashlib.sha256(b'LDGRCHAIN' + bytes(range(0xf0, 0x100))).digest()
    previous = 0
    for lsn, p in enumerate(payloads, 1):
        zeroed = p[:16] + bytes(32) + p[48:]
        chain = hashlib.sha256(chain + struct.pack('<Q', lsn) + zeroed).digest()
        p = p[:16] + chain + p[48:]
        record_header = struct.pack('<IBBHQI', len(p), 1, 6, 0, lsn, previous) + bytes(8)
        previous = mask(crc32c(p, crc32c(record_header, crc32c(epoch))))
        record = record_header + struct.pack('<I', previous) + p
        out += record + bytes((-len(record)) % 8)
    return out + bytes(file_bytes - len(out))

seed('wal', 'accounts-and-entry', sealed_wal([rich], 8192))
seed('wal-payloads', 'accounts-and-entry', struct.pack('<H', len(rich)) + rich)

# A whole directory: [0] + a WAL file, or [1] + sealed payloads.
seed('directory', 'wal-8k', bytes([0]) + sealed_wal([rich], 8192))
seed('directory', 'payloads', bytes([1]) + struct.pack('<H', len(rich)) + rich)
