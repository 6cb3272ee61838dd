"""The LedgerServer wire protocol (Specs/protocol.md), byte by byte.

Pure functions, no I/O: frames, and every request and reply body. All
integers are little-endian; ids and amounts are Python ints (128-bit).
"""
import struct
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

VERSION = 1             # frames before hello agrees on a version
VERSIONS = (1, 2)       # what this client speaks; 2 adds read-your-writes
READ_YOUR_WRITES_VERSION = 2
READ_WAIT_MS_MAX = 60_000
MAGIC = b'LDGP'
HEADER_BYTES = 32
FRAME_BODY_BYTES_MAX = 4_194_368
EVENTS_PER_REQUEST_MAX = 8_189
IDS_PER_REQUEST_MAX = 8_189
HISTORY_ITEMS_MAX = 1_000
DEFAULT_PORT = 7380

OPERATIONS = {
    'hello': 1, 'createAccounts': 2, 'submitEntries': 3, 'lookupAccounts': 4,
    'lookupEntries': 5, 'accountHistory': 6, 'balanceAsOf': 7, 'status': 8,
    'replicate': 9, 'standbyStatus': 10, 'baseBackup': 11,
}

STATUSES = [
    'ok', 'malformedFrame', 'bodyChecksumMismatch', 'unsupportedVersion', 'unauthenticated',
    'unknownOperation', 'frameTooLarge', 'malformedBody', 'busy', 'rateLimited',
    'tooManyInFlight', 'shuttingDown', 'engineStopped', 'unsupported', 'internalError',
    'notPrimary', 'diverged', 'needBaseBackup', 'notReplicated', 'forbidden', 'behind',
]

# data-model.md, "Result codes".
RESULTS = [
    'ok', 'exists', 'existsWithDifferentFields', 'idMustNotBeZero', 'ledgerMustNotBeZero',
    'reservedFlag', 'flagsAreMutuallyExclusive', 'accountsFull', 'accountNotFound', 'accountClosed',
    'accountAlreadyClosed', 'accountHasPendingBalance', 'tooFewPostings', 'tooManyPostings',
    'metadataTooLong', 'amountMustNotBeZero', 'invalidSide', 'ledgerMismatch', 'unbalanced',
    'overflow', 'exceedsCredits', 'exceedsDebits', 'pendingIdMustBeZero', 'pendingIdRequired',
    'pendingNotFound', 'pendingAlreadyPosted', 'pendingAlreadyVoided', 'pendingExpired',
    'amountExceedsPending', 'postingsDifferFromPending', 'timeoutRequiresPending',
    'invalidEntryKind', 'holdNotDue', 'pendingSettledLongAgo', 'ledgerTotalOverflow',
]

ENTRY_KINDS = {'posted': 0, 'pending': 1, 'postPending': 2, 'voidPending': 3}
HISTORY_KINDS = ['posted', 'pending', 'postPending', 'voidPending', 'expired']
SIDES = {'debit': 1, 'credit': 2}

ACCOUNT_FLAGS = {'debitsMustNotExceedCredits': 1, 'creditsMustNotExceedDebits': 2, 'closed': 4}


class ProtocolError(Exception):
    """Bytes that break the protocol (a damaged or foreign frame or body)."""


Posting = Tuple[int, int, str]   # (account id, amount, 'debit' | 'credit')


@dataclass(frozen=True)
class HelloReply:
    version: int
    frame_body_bytes_max: int
    events_per_request_max: int
    in_flight_max: int
    directory_id: bytes


@dataclass(frozen=True)
class Balances:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


@dataclass(frozen=True)
class Account(Balances):
    id: int
    user_data: int
    ledger: int
    code: int
    flags: int
    timestamp: int


@dataclass(frozen=True)
class Entry:
    id: int
    kind: Union[str, int]
    code: int
    timeout_seconds: int
    pending_id: int
    user_data: int
    postings: List[Posting]
    metadata: bytes
    timestamp: Optional[int] = None   # in lookup replies
    lsn: Optional[int] = None


@dataclass(frozen=True)
class HistoryItem(Balances):
    timestamp: int
    lsn: int
    kind: Union[str, int]
    entry_id: int
    debits_posted_change: int
    credits_posted_change: int
    debits_pending_change: int
    credits_pending_change: int


@dataclass(frozen=True)
class HistoryPage:
    items: List[HistoryItem]
    next_cursor: Optional[int]


@dataclass(frozen=True)
class Status:
    last_lsn: int
    accounts: int
    resident_entries: int
    uptime_ns: int
    connections: int
    queue_depth: int


# --- CRC32C (Castagnoli), masked as in the WAL ---------------------------

def _table() -> List[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def u128(value: int) -> bytes:
    if not 0 <= value < 1 << 128:
        raise ValueError('%d does not fit 128 unsigned bits' % value)
    return struct.pack('<QQ', value & 0xFFFFFFFFFFFFFFFF, value >> 64)


def read_u128(data: bytes, offset: int) -> int:
    lo, hi = struct.unpack_from('<QQ', data, offset)
    return int(lo | hi << 64)


def read_i128(data: bytes, offset: int) -> int:
    v = read_u128(data, offset)
    return v - (1 << 128) if v >> 127 else v


# --- Frames --------------------------------------------------------------

def encode_frame(operation: int, request_id: int, body: bytes = b'', status: int = 0, version: int = VERSION) -> bytes:
    if len(body) > FRAME_BODY_BYTES_MAX:
        raise ValueError('body of %d bytes exceeds %d' % (len(body), FRAME_BODY_BYTES_MAX))
    if not VERSIONS[0] <= version <= VERSIONS[1]:
        raise ValueError('protocol version %d' % version)
    head = MAGIC + struct.pack('<HHQIIHH', version, operation, request_id, len(body), masked_crc(body), status, 0)
    return head + struct.pack('<I', masked_crc(head)) + body


def decode_header(head: bytes) -> Tuple[int, int, int, int, int]:
    """(operation, request_id, body_bytes, body_crc, status) of a 32-byte header."""
    if len(head) != HEADER_BYTES:
        raise ProtocolError('a header is 32 bytes')
    if head[0:4] != MAGIC:
        raise ProtocolError('bad magic')
    if struct.unpack_from('<I', head, 28)[0] != masked_crc(head[0:28]):
        raise ProtocolError('header checksum mismatch')
    version, operation, request_id, body_bytes, body_crc, status, reserved = struct.unpack_from('<HHQIIHH', head, 4)
    if not VERSIONS[0] <= version <= VERSIONS[1]:
        raise ProtocolError('protocol version %d' % version)
    if reserved != 0:
        raise ProtocolError('reserved header bytes are not zero')
    if body_bytes > FRAME_BODY_BYTES_MAX:
        raise ProtocolError('body of %d bytes exceeds the limit' % body_bytes)
    return int(operation), int(request_id), int(body_bytes), int(body_crc), int(status)


def header_version(head: bytes) -> int:
    """The protocol version of a header decode_header accepted."""
    return int(struct.unpack_from('<H', head, 4)[0])


def decode_frame(data: bytes) -> Tuple[int, int, int, bytes]:
    """(operation, request_id, status, body) of one whole frame."""
    operation, request_id, body_bytes, body_crc, status = decode_header(bytes(data[:HEADER_BYTES]))
    body = bytes(data[HEADER_BYTES:])
    if len(body) != body_bytes:
        raise ProtocolError('frame body of %d bytes; header says %d' % (len(body), body_bytes))
    if masked_crc(body) != body_crc:
        raise ProtocolError('body checksum mismatch')
    return operation, request_id, status, body


# --- hello ---------------------------------------------------------------

def encode_hello(key_id: str, secret: bytes, versions: Tuple[int, int] = (VERSION, VERSION)) -> bytes:
    key = key_id.encode('utf-8')
    if not 1 <= len(key) <= 64 or not 16 <= len(secret) <= 128:
        raise ValueError('key id 1...64 bytes, secret 16...128 bytes')
    return struct.pack('<HHHH', versions[0], versions[1], len(key), len(secret)) + key + bytes(secret)


def decode_hello(body: bytes) -> Dict[str, object]:
    low, high, k, s = struct.unpack_from('<HHHH', body, 0)
    if len(body) != 8 + k + s:
        raise ProtocolError('hello of %d bytes' % len(body))
    return {'versions': (low, high), 'key_id': body[8:8 + k].decode('utf-8'), 'secret': body[8 + k:]}


def decode_hello_reply(body: bytes) -> 'HelloReply':
    if len(body) != 32:
        raise ProtocolError('hello reply of %d bytes' % len(body))
    version, _, frame_max, events_max, in_flight_max = struct.unpack_from('<HHIII', body, 0)
    return HelloReply(version=version, frame_body_bytes_max=frame_max, events_per_request_max=events_max,
                      in_flight_max=in_flight_max, directory_id=body[16:32])


# --- events (data-model.md, "Event encoding") ----------------------------

def account_event(id: int, ledger: int, code: int, flags: int = 0, user_data: int = 0) -> bytes:
    return struct.pack('<BBHIH6x', 1, 0, flags, ledger, code) + u128(id) + u128(user_data)


def close_account_event(id: int) -> bytes:
    return bytes([2]) + bytes(15) + u128(id)


def entry_event(id: int, postings: Sequence[Posting] = (), kind: str = 'posted', pending_id: int = 0, timeout_seconds: int = 0,
                code: int = 0, user_data: int = 0, metadata: bytes = b'') -> bytes:
    """postings: (account_id, amount, 'debit' | 'credit') tuples."""
    out = struct.pack('<BBHHHII', 3, ENTRY_KINDS[kind], code, len(postings), len(metadata), timeout_seconds, 0)
    out += u128(id) + u128(pending_id) + u128(user_data)
    for account_id, amount, side in postings:
        out += u128(account_id) + u128(amount) + bytes([SIDES[side]]) + bytes(7)
    return out + bytes(metadata) + bytes((-len(metadata)) % 8)


def decode_entry_event(data: bytes, offset: int = 0) -> Tuple['Entry', int]:
    """The entry at `offset` and its size in bytes."""
    kind, entry_kind, code, n, m, timeout, _ = struct.unpack_from('<BBHHHII', data, offset)
    if kind != 3:
        raise ProtocolError('event kind %d is not an entry' % kind)
    postings: List[Posting] = []
    o = offset + 64
    for _ in range(n):
        side = data[o + 32]
        postings.append((read_u128(data, o), read_u128(data, o + 16), 'debit' if side == 1 else 'credit'))
        o += 40
    metadata = bytes(data[o:o + m])
    size = 64 + 40 * n + m + (-m) % 8
    kinds = {v: k for k, v in ENTRY_KINDS.items()}
    return Entry(id=read_u128(data, offset + 16), kind=kinds.get(entry_kind, entry_kind), code=code,
                 timeout_seconds=timeout, pending_id=read_u128(data, offset + 32),
                 user_data=read_u128(data, offset + 48), postings=postings, metadata=metadata), size


def encode_batch(events_in: Iterable[bytes]) -> bytes:
    events = list(events_in)
    if not 1 <= len(events) <= EVENTS_PER_REQUEST_MAX:
        raise ValueError('a request takes 1...%d events, not %d' % (EVENTS_PER_REQUEST_MAX, len(events)))
    payload = b''.join(events)
    return struct.pack('<II', len(events), len(payload)) + payload


def decode_batch(body: bytes) -> Tuple[int, bytes]:
    """(event count, event bytes)."""
    n, e = struct.unpack_from('<II', body, 0)
    if len(body) != 8 + e:
        raise ProtocolError('event batch of %d bytes says %d' % (len(body), e))
    return int(n), body[8:]


def decode_results(body: bytes, count: int) -> List[Union[str, int]]:
    if len(body) != count + (-count) % 8 or any(body[count:]):
        raise ProtocolError('results of %d bytes for %d events' % (len(body), count))
    return [RESULTS[c] if c < len(RESULTS) else c for c in body[:count]]


def encode_results(codes: Iterable[Union[str, int]]) -> bytes:
    raw = bytes(RESULTS.index(c) if isinstance(c, str) else c for c in codes)
    return raw + bytes((-len(raw)) % 8)


# --- protocol version 2: read-your-writes ---------------------------------

def encode_committed_results(codes: Iterable[Union[str, int]], lsn: int) -> bytes:
    """Version 2 results: u64 commit LSN, then the version 1 body."""
    return struct.pack('<Q', lsn) + encode_results(codes)


def decode_committed_results(body: bytes, count: int) -> Tuple[List[Union[str, int]], int]:
    if len(body) < 8:
        raise ProtocolError('results of %d bytes have no LSN' % len(body))
    lsn = struct.unpack_from('<Q', body, 0)[0]
    if lsn == 0:
        raise ProtocolError('results committed at LSN 0')
    return decode_results(body[8:], count), int(lsn)


def encode_read_prefix(min_lsn: int, wait_ms: int) -> bytes:
    """The 16 bytes before a version 2 read body: minimum LSN, wait, zero."""
    if not 0 <= wait_ms <= READ_WAIT_MS_MAX:
        raise ValueError('a read waits 0...%d ms' % READ_WAIT_MS_MAX)
    return struct.pack('<QII', min_lsn, wait_ms, 0)


def split_read_prefix(body: bytes) -> Tuple[int, int, bytes]:
    """(min_lsn, wait_ms, read body) of a version 2 read request."""
    if len(body) < 16:
        raise ProtocolError('a version 2 read starts with 16 bytes')
    min_lsn, wait_ms, zero = struct.unpack_from('<QII', body, 0)
    if zero != 0 or wait_ms > READ_WAIT_MS_MAX:
        raise ProtocolError('read prefix out of range')
    return int(min_lsn), int(wait_ms), body[16:]


READ_OPERATIONS = ('lookupAccounts', 'lookupEntries', 'accountHistory', 'balanceAsOf')


# --- lookups -------------------------------------------------------------

def encode_ids(ids_in: Iterable[int]) -> bytes:
    ids = list(ids_in)
    if not 1 <= len(ids) <= IDS_PER_REQUEST_MAX:
        raise ValueError('a lookup takes 1...%d ids' % IDS_PER_REQUEST_MAX)
    return struct.pack('<II', len(ids), 0) + b''.join(u128(i) for i in ids)


def decode_ids(body: bytes) -> List[int]:
    n, zero = struct.unpack_from('<II', body, 0)
    if zero or len(body) != 8 + 16 * n:
        raise ProtocolError('id list of %d bytes' % len(body))
    return [read_u128(body, 8 + 16 * i) for i in range(n)]


def decode_accounts(body: bytes, count: int) -> List[Optional['Account']]:
    if len(body) != 128 * count:
        raise ProtocolError('account list of %d bytes for %d ids' % (len(body), count))
    out: List[Optional[Account]] = []
    for i in range(count):
        o = 128 * i
        id = read_u128(body, o)
        if id == 0:
            out.append(None)
            continue
        ledger, code, flags, timestamp = struct.unpack_from('<IHHQ', body, o + 96)
        out.append(Account(id=id, user_data=read_u128(body, o + 16), debits_posted=read_u128(body, o + 32),
                           credits_posted=read_u128(body, o + 48), debits_pending=read_u128(body, o + 64),
                           credits_pending=read_u128(body, o + 80), ledger=ledger, code=code, flags=flags,
                           timestamp=timestamp))
    return out


def decode_entries(body: bytes, count: int) -> List[Optional['Entry']]:
    out: List[Optional[Entry]] = []
    o = 0
    for _ in range(count):
        r, _zero = struct.unpack_from('<II', body, o)
        if r == 8:
            out.append(None)
        else:
            timestamp, lsn = struct.unpack_from('<QQ', body, o + 8)
            entry, _size = decode_entry_event(body, o + 24)
            out.append(replace(entry, timestamp=timestamp, lsn=lsn))
        o += r
    if o != len(body):
        raise ProtocolError('bytes follow the entry list')
    return out


# --- history, balances, status -------------------------------------------

NO_END = (1 << 64) - 1


def encode_history_query(account: int, from_ns: int = 0, to_ns: int = NO_END, after: int = 0, limit: int = 100) -> bytes:
    if not 1 <= limit <= HISTORY_ITEMS_MAX:
        raise ValueError('limit 1...%d' % HISTORY_ITEMS_MAX)
    return u128(account) + struct.pack('<QQQII', from_ns, to_ns, after, limit, 0)


def decode_history_page(body: bytes) -> 'HistoryPage':
    n, _zero, cursor = struct.unpack_from('<IIQ', body, 0)
    if len(body) != 16 + 168 * n:
        raise ProtocolError('history page of %d bytes for %d items' % (len(body), n))
    items: List[HistoryItem] = []
    for i in range(n):
        o = 16 + 168 * i
        timestamp, lsn, kind = struct.unpack_from('<QQB', body, o)
        items.append(HistoryItem(timestamp=timestamp, lsn=lsn, kind=HISTORY_KINDS[kind] if kind < 5 else kind,
                                 entry_id=read_u128(body, o + 24),
                                 debits_posted=read_u128(body, o + 40), credits_posted=read_u128(body, o + 56),
                                 debits_pending=read_u128(body, o + 72), credits_pending=read_u128(body, o + 88),
                                 debits_posted_change=read_u128(body, o + 104), credits_posted_change=read_u128(body, o + 120),
                                 debits_pending_change=read_i128(body, o + 136), credits_pending_change=read_i128(body, o + 152)))
    return HistoryPage(items=items, next_cursor=cursor or None)


def encode_balance_query(account: int, as_of_ns: int) -> bytes:
    return u128(account) + struct.pack('<QQ', as_of_ns, 0)


def decode_balances(body: bytes) -> 'Balances':
    if len(body) != 64:
        raise ProtocolError('balances of %d bytes' % len(body))
    return Balances(debits_posted=read_u128(body, 0), credits_posted=read_u128(body, 16),
                    debits_pending=read_u128(body, 32), credits_pending=read_u128(body, 48))


def decode_status(body: bytes) -> 'Status':
    if len(body) != 40:
        raise ProtocolError('status of %d bytes' % len(body))
    lsn, accounts, resident, uptime, connections, queue = struct.unpack('<QQQQII', body)
    return Status(last_lsn=lsn, accounts=accounts, resident_entries=resident, uptime_ns=uptime,
                  connections=connections, queue_depth=queue)


# --- replication (replication.md): a minimal stream reader for tests -------

@dataclass(frozen=True)
class WalFile:
    header: bytes


@dataclass(frozen=True)
class WalRecords:
    first_lsn: int
    offset: int
    records: bytes


@dataclass(frozen=True)
class Heartbeat:
    durable_lsn: int
    clock_ns: int
    reply_requested: bool


@dataclass(frozen=True)
class BackupStart:
    image_bytes: int
    file_count: int


@dataclass(frozen=True)
class BackupFile:
    name: str
    copy_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class BackupData:
    offset: int
    data: bytes


@dataclass(frozen=True)
class BackupEnd:
    snapshot_lsn: int
    last_lsn: int


ReplicationMessage = Union[WalFile, WalRecords, Heartbeat, BackupStart, BackupFile, BackupData, BackupEnd]


def encode_replicate(directory_id: bytes, timeline: int, last_durable_lsn: int, chain_value: bytes) -> bytes:
    if len(directory_id) != 16 or len(chain_value) != 32:
        raise ValueError('directory id of 16 bytes, chain value of 32')
    return bytes(directory_id) + struct.pack('<QQ', timeline, last_durable_lsn) + bytes(chain_value)


def decode_replication_message(body: bytes) -> ReplicationMessage:
    if len(body) < 8:
        raise ProtocolError('replication message of %d bytes' % len(body))
    kind, zero1, zero2, zero3, n = struct.unpack_from('<BBBBI', body, 0)
    payload = body[8:]
    if zero1 or zero2 or zero3 or n != len(payload):
        raise ProtocolError('replication message header')
    if kind == 1 and n == 64:
        return WalFile(header=payload)
    if kind == 2 and n > 16 and (n - 16) % 8 == 0:
        first_lsn, offset = struct.unpack_from('<QQ', payload, 0)
        return WalRecords(first_lsn=first_lsn, offset=offset, records=payload[16:])
    if kind == 3 and n == 24 and payload[16] <= 1 and not any(payload[17:]):
        durable_lsn, clock_ns = struct.unpack_from('<QQ', payload, 0)
        return Heartbeat(durable_lsn=durable_lsn, clock_ns=clock_ns, reply_requested=payload[16] == 1)
    if kind == 4 and n == 16:
        image_bytes, file_count = struct.unpack_from('<QQ', payload, 0)
        return BackupStart(image_bytes=image_bytes, file_count=file_count)
    if kind == 5 and n > 24 and not any(payload[18:24]):
        copy_bytes, total_bytes, name_bytes = struct.unpack_from('<QQH', payload, 0)
        if name_bytes == n - 24 and copy_bytes <= total_bytes:
            return BackupFile(name=payload[24:].decode('ascii'), copy_bytes=copy_bytes, total_bytes=total_bytes)
    if kind == 6 and n > 8:
        return BackupData(offset=struct.unpack_from('<Q', payload, 0)[0], data=payload[8:])
    if kind == 7 and n == 16:
        snapshot_lsn, last_lsn = struct.unpack_from('<QQ', payload, 0)
        return BackupEnd(snapshot_lsn=snapshot_lsn, last_lsn=last_lsn)
    raise ProtocolError('replication message of type %d and %d bytes' % (kind, n))


def encode_replication_message(message: ReplicationMessage) -> bytes:
    if isinstance(message, WalFile):
        kind, payload = 1, message.header
    elif isinstance(message, WalRecords):
        kind, payload = 2, struct.pack('<QQ', message.first_lsn, message.offset) + message.records
    elif isinstance(message, Heartbeat):
        kind, payload = 3, struct.pack('<QQB7x', message.durable_lsn, message.clock_ns, 1 if message.reply_requested else 0)
    elif isinstance(message, BackupStart):
        kind, payload = 4, struct.pack('<QQ', message.image_bytes, message.file_count)
    elif isinstance(message, BackupFile):
        name = message.name.encode('ascii')
        kind, payload = 5, struct.pack('<QQH6x', message.copy_bytes, message.total_bytes, len(name)) + name
    elif isinstance(message, BackupData):
        kind, payload = 6, struct.pack('<Q', message.offset) + message.data
    else:
        kind, payload = 7, struct.pack('<QQ', message.snapshot_lsn, message.last_lsn)
    return struct.pack('<B3xI', kind, len(payload)) + payload


def encode_standby_status(durable_lsn: int, applied_lsn: int, clock_ns: int) -> bytes:
    return struct.pack('<QQQQ', durable_lsn, applied_lsn, clock_ns, 0)
