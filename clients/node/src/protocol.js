// The LedgerServer wire protocol (Specs/protocol.md), byte by byte.
// Pure functions, no I/O. Ids, amounts and 64-bit fields are BigInt.

export const VERSION = 1; // frames before hello agrees on a version
export const VERSIONS = [1, 2]; // what this client speaks; 2 adds read-your-writes
export const READ_YOUR_WRITES_VERSION = 2;
export const READ_WAIT_MS_MAX = 60_000;
export const MAGIC = Buffer.from('LDGP');
export const HEADER_BYTES = 32;
export const FRAME_BODY_BYTES_MAX = 4_194_368;
export const EVENTS_PER_REQUEST_MAX = 8_189;
export const IDS_PER_REQUEST_MAX = 8_189;
export const HISTORY_ITEMS_MAX = 1_000;
export const DEFAULT_PORT = 7380;
export const NO_END = (1n << 64n) - 1n;

export const OPERATIONS = {
  hello: 1, createAccounts: 2, submitEntries: 3, lookupAccounts: 4,
  lookupEntries: 5, accountHistory: 6, balanceAsOf: 7, status: 8,
  replicate: 9, standbyStatus: 10, baseBackup: 11,
};

export const STATUSES = [
  'ok', 'malformedFrame', 'bodyChecksumMismatch', 'unsupportedVersion', 'unauthenticated',
  'unknownOperation', 'frameTooLarge', 'malformedBody', 'busy', 'rateLimited',
  'tooManyInFlight', 'shuttingDown', 'engineStopped', 'unsupported', 'internalError',
  'notPrimary', 'diverged', 'needBaseBackup', 'notReplicated', 'forbidden', 'behind',
];

// data-model.md, "Result codes".
export const RESULTS = [
  'ok', 'exists', 'existsWithDifferentFields', 'idMustNotBeZero', 'ledgerMustNotBeZero',
  'reservedFlag', 'flagsAreMutuallyExclusive', 'accountsFull', 'accountNotFound', 'accountClosed',
  'accountAlreadyClosed', 'accountHasPendingBalance', 'tooFewPostings', 'tooManyPostings',
  'metadataTooLong', 'amountMustNotBeZero', 'invalidSide', 'ledgerMismatch', 'unbalanced',
  'overflow', 'exceedsCredits', 'exceedsDebits', 'pendingIdMustBeZero', 'pendingIdRequired',
  'pendingNotFound', 'pendingAlreadyPosted', 'pendingAlreadyVoided', 'pendingExpired',
  'amountExceedsPending', 'postingsDifferFromPending', 'timeoutRequiresPending',
  'invalidEntryKind', 'holdNotDue', 'pendingSettledLongAgo', 'ledgerTotalOverflow',
];

export const ENTRY_KINDS = { posted: 0, pending: 1, postPending: 2, voidPending: 3 };
export const HISTORY_KINDS = ['posted', 'pending', 'postPending', 'voidPending', 'expired'];
export const ACCOUNT_FLAGS = { debitsMustNotExceedCredits: 1, creditsMustNotExceedDebits: 2, closed: 4 };

export class ProtocolError extends Error {}

// CRC32C (Castagnoli), masked as in the WAL.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function maskedCRC(bytes) {
  const crc = crc32c(bytes);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

const U128_MAX = (1n << 128n) - 1n;

function writeU128(buf, offset, value) {
  const v = BigInt(value);
  if (v < 0n || v > U128_MAX) throw new RangeError(`${v} does not fit 128 unsigned bits`);
  buf.writeBigUInt64LE(v & 0xffffffffffffffffn, offset);
  buf.writeBigUInt64LE(v >> 64n, offset + 8);
}

export function readU128(buf, offset) {
  return buf.readBigUInt64LE(offset) | (buf.readBigUInt64LE(offset + 8) << 64n);
}

function readI128(buf, offset) {
  const v = readU128(buf, offset);
  return v >> 127n ? v - (1n << 128n) : v;
}

// Frames.

export function encodeFrame(operation, requestId, body = Buffer.alloc(0), status = 0, version = VERSION) {
  if (body.length > FRAME_BODY_BYTES_MAX) throw new RangeError(`body of ${body.length} bytes exceeds ${FRAME_BODY_BYTES_MAX}`);
  if (version < VERSIONS[0] || version > VERSIONS[1]) throw new RangeError(`protocol version ${version}`);
  const head = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(head, 0);
  head.writeUInt16LE(version, 4);
  head.writeUInt16LE(operation, 6);
  head.writeBigUInt64LE(BigInt(requestId), 8);
  head.writeUInt32LE(body.length, 16);
  head.writeUInt32LE(maskedCRC(body), 20);
  head.writeUInt16LE(status, 24);
  head.writeUInt32LE(maskedCRC(head.subarray(0, 28)), 28);
  return Buffer.concat([head, body]);
}

/** Checks a 32-byte header; returns { version, operation, requestId, bodyBytes, bodyCRC, status }. */
export function decodeHeader(head) {
  if (head.length !== HEADER_BYTES) throw new ProtocolError('a header is 32 bytes');
  if (!head.subarray(0, 4).equals(MAGIC)) throw new ProtocolError('bad magic');
  if (head.readUInt32LE(28) !== maskedCRC(head.subarray(0, 28))) throw new ProtocolError('header checksum mismatch');
  const version = head.readUInt16LE(4);
  if (version < VERSIONS[0] || version > VERSIONS[1]) throw new ProtocolError(`protocol version ${version}`);
  if (head.readUInt16LE(26) !== 0) throw new ProtocolError('reserved header bytes are not zero');
  const bodyBytes = head.readUInt32LE(16);
  if (bodyBytes > FRAME_BODY_BYTES_MAX) throw new ProtocolError(`body of ${bodyBytes} bytes exceeds the limit`);
  return {
    version, operation: head.readUInt16LE(6), requestId: head.readBigUInt64LE(8), bodyBytes,
    bodyCRC: head.readUInt32LE(20), status: head.readUInt16LE(24),
  };
}

export function decodeFrame(frame) {
  const header = decodeHeader(frame.subarray(0, HEADER_BYTES));
  const body = frame.subarray(HEADER_BYTES);
  if (body.length !== header.bodyBytes) throw new ProtocolError(`body of ${body.length} bytes; header says ${header.bodyBytes}`);
  if (maskedCRC(body) !== header.bodyCRC) throw new ProtocolError('body checksum mismatch');
  return { operation: header.operation, requestId: header.requestId, status: header.status, body: Buffer.from(body) };
}

// hello.

export function encodeHello(keyId, secret, versions = [VERSION, VERSION]) {
  const key = Buffer.from(keyId, 'utf8');
  if (key.length < 1 || key.length > 64 || secret.length < 16 || secret.length > 128) {
    throw new RangeError('key id 1...64 bytes, secret 16...128 bytes');
  }
  const head = Buffer.alloc(8);
  head.writeUInt16LE(versions[0], 0);
  head.writeUInt16LE(versions[1], 2);
  head.writeUInt16LE(key.length, 4);
  head.writeUInt16LE(secret.length, 6);
  return Buffer.concat([head, key, Buffer.from(secret)]);
}

export function decodeHelloReply(body) {
  if (body.length !== 32) throw new ProtocolError(`hello reply of ${body.length} bytes`);
  return {
    version: body.readUInt16LE(0), frameBodyBytesMax: body.readUInt32LE(4), eventsPerRequestMax: body.readUInt32LE(8),
    inFlightMax: body.readUInt32LE(12), directoryId: Buffer.from(body.subarray(16, 32)),
  };
}

// Events (data-model.md, "Event encoding").

export function accountEvent({ id, ledger, code, flags = 0, userData = 0n }) {
  const b = Buffer.alloc(48);
  b[0] = 1;
  b.writeUInt16LE(flags, 2);
  b.writeUInt32LE(ledger, 4);
  b.writeUInt16LE(code, 8);
  writeU128(b, 16, id);
  writeU128(b, 32, userData);
  return b;
}

export function closeAccountEvent(id) {
  const b = Buffer.alloc(32);
  b[0] = 2;
  writeU128(b, 16, id);
  return b;
}

/** postings: [{ account, amount, side: 'debit' | 'credit' }]. */
export function entryEvent({ id, postings = [], kind = 'posted', pendingId = 0n, timeoutSeconds = 0, code = 0, userData = 0n, metadata = Buffer.alloc(0) }) {
  const meta = Buffer.from(metadata);
  const padded = meta.length + ((8 - (meta.length % 8)) % 8);
  const b = Buffer.alloc(64 + 40 * postings.length + padded);
  if (!(kind in ENTRY_KINDS)) throw new RangeError(`entry kind ${kind}`);
  b[0] = 3;
  b[1] = ENTRY_KINDS[kind];
  b.writeUInt16LE(code, 2);
  b.writeUInt16LE(postings.length, 4);
  b.writeUInt16LE(meta.length, 6);
  b.writeUInt32LE(timeoutSeconds, 8);
  writeU128(b, 16, id);
  writeU128(b, 32, pendingId);
  writeU128(b, 48, userData);
  postings.forEach((p, i) => {
    const o = 64 + 40 * i;
    writeU128(b, o, p.account);
    writeU128(b, o + 16, p.amount);
    if (p.side !== 'debit' && p.side !== 'credit') throw new RangeError(`posting side ${p.side}`);
    b[o + 32] = p.side === 'debit' ? 1 : 2;
  });
  meta.copy(b, 64 + 40 * postings.length);
  return b;
}

export function decodeEntryEvent(buf, offset = 0) {
  if (buf[offset] !== 3) throw new ProtocolError(`event kind ${buf[offset]} is not an entry`);
  const n = buf.readUInt16LE(offset + 4);
  const m = buf.readUInt16LE(offset + 6);
  const kinds = Object.keys(ENTRY_KINDS);
  const postings = [];
  for (let i = 0; i < n; i++) {
    const o = offset + 64 + 40 * i;
    postings.push({ account: readU128(buf, o), amount: readU128(buf, o + 16), side: buf[o + 32] === 1 ? 'debit' : 'credit' });
  }
  const metaStart = offset + 64 + 40 * n;
  return {
    entry: {
      id: readU128(buf, offset + 16), kind: kinds[buf[offset + 1]] ?? buf[offset + 1], code: buf.readUInt16LE(offset + 2),
      timeoutSeconds: buf.readUInt32LE(offset + 8), pendingId: readU128(buf, offset + 32), userData: readU128(buf, offset + 48),
      postings, metadata: Buffer.from(buf.subarray(metaStart, metaStart + m)),
    },
    size: 64 + 40 * n + m + ((8 - (m % 8)) % 8),
  };
}

export function encodeBatch(events) {
  if (events.length < 1 || events.length > EVENTS_PER_REQUEST_MAX) {
    throw new RangeError(`a request takes 1...${EVENTS_PER_REQUEST_MAX} events, not ${events.length}`);
  }
  const payload = Buffer.concat(events);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(events.length, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

export function decodeResults(body, count) {
  if (body.length !== count + ((8 - (count % 8)) % 8)) throw new ProtocolError(`results of ${body.length} bytes for ${count} events`);
  return [...body.subarray(0, count)].map((c) => RESULTS[c] ?? c);
}

export function encodeResults(names) {
  const b = Buffer.alloc(names.length + ((8 - (names.length % 8)) % 8));
  names.forEach((n, i) => { b[i] = RESULTS.indexOf(n); });
  return b;
}

// Protocol version 2: read-your-writes.

/** Version 2 results: u64 commit LSN, then the version 1 body. */
export function encodeCommittedResults(names, lsn) {
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(lsn), 0);
  return Buffer.concat([head, encodeResults(names)]);
}

/** { results, lsn } of a version 2 results body. */
export function decodeCommittedResults(body, count) {
  if (body.length < 8) throw new ProtocolError(`results of ${body.length} bytes have no LSN`);
  const lsn = body.readBigUInt64LE(0);
  if (lsn === 0n) throw new ProtocolError('results committed at LSN 0');
  return { results: decodeResults(body.subarray(8), count), lsn };
}

/** The 16 bytes before a version 2 read body: minimum LSN, wait (ms), zero. */
export function encodeReadPrefix(minLSN, waitMs) {
  if (!(waitMs >= 0 && waitMs <= READ_WAIT_MS_MAX)) throw new RangeError(`a read waits 0...${READ_WAIT_MS_MAX} ms`);
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(minLSN), 0);
  b.writeUInt32LE(waitMs, 8);
  return b;
}

/** { minLSN, waitMs, body } of a version 2 read request body. */
export function splitReadPrefix(body) {
  if (body.length < 16) throw new ProtocolError('a version 2 read starts with 16 bytes');
  const waitMs = body.readUInt32LE(8);
  if (body.readUInt32LE(12) !== 0 || waitMs > READ_WAIT_MS_MAX) throw new ProtocolError('read prefix out of range');
  return { minLSN: body.readBigUInt64LE(0), waitMs, body: body.subarray(16) };
}

// Lookups.

export function encodeIds(ids) {
  if (ids.length < 1 || ids.length > IDS_PER_REQUEST_MAX) throw new RangeError(`a lookup takes 1...${IDS_PER_REQUEST_MAX} ids`);
  const b = Buffer.alloc(8 + 16 * ids.length);
  b.writeUInt32LE(ids.length, 0);
  ids.forEach((id, i) => writeU128(b, 8 + 16 * i, id));
  return b;
}

export function decodeAccounts(body, count) {
  if (body.length !== 128 * count) throw new ProtocolError(`account list of ${body.length} bytes for ${count} ids`);
  const out = [];
  for (let i = 0; i < count; i++) {
    const o = 128 * i;
    const id = readU128(body, o);
    if (id === 0n) { out.push(null); continue; }
    out.push({
      id, userData: readU128(body, o + 16), debitsPosted: readU128(body, o + 32), creditsPosted: readU128(body, o + 48),
      debitsPending: readU128(body, o + 64), creditsPending: readU128(body, o + 80), ledger: body.readUInt32LE(o + 96),
      code: body.readUInt16LE(o + 100), flags: body.readUInt16LE(o + 102), timestamp: body.readBigUInt64LE(o + 104),
    });
  }
  return out;
}

export function decodeEntries(body, count) {
  const out = [];
  let o = 0;
  for (let i = 0; i < count; i++) {
    const r = body.readUInt32LE(o);
    if (r === 8) {
      out.push(null);
    } else {
      const { entry } = decodeEntryEvent(body, o + 24);
      out.push({ ...entry, timestamp: body.readBigUInt64LE(o + 8), lsn: body.readBigUInt64LE(o + 16) });
    }
    o += r;
  }
  if (o !== body.length) throw new ProtocolError('bytes follow the entry list');
  return out;
}

// History, balances, status.

export function encodeHistoryQuery({ account, fromNs = 0n, toNs = NO_END, after = 0n, limit = 100 }) {
  if (limit < 1 || limit > HISTORY_ITEMS_MAX) throw new RangeError(`limit 1...${HISTORY_ITEMS_MAX}`);
  const b = Buffer.alloc(48);
  writeU128(b, 0, account);
  b.writeBigUInt64LE(BigInt(fromNs), 16);
  b.writeBigUInt64LE(BigInt(toNs), 24);
  b.writeBigUInt64LE(BigInt(after), 32);
  b.writeUInt32LE(limit, 40);
  return b;
}

export function decodeHistoryPage(body) {
  const n = body.readUInt32LE(0);
  if (body.length !== 16 + 168 * n) throw new ProtocolError(`history page of ${body.length} bytes for ${n} items`);
  const cursor = body.readBigUInt64LE(8);
  const items = [];
  for (let i = 0; i < n; i++) {
    const o = 16 + 168 * i;
    items.push({
      timestamp: body.readBigUInt64LE(o), lsn: body.readBigUInt64LE(o + 8), kind: HISTORY_KINDS[body[o + 16]] ?? body[o + 16],
      entryId: readU128(body, o + 24), debitsPosted: readU128(body, o + 40), creditsPosted: readU128(body, o + 56),
      debitsPending: readU128(body, o + 72), creditsPending: readU128(body, o + 88),
      debitsPostedChange: readU128(body, o + 104), creditsPostedChange: readU128(body, o + 120),
      debitsPendingChange: readI128(body, o + 136), creditsPendingChange: readI128(body, o + 152),
    });
  }
  return { items, nextCursor: cursor === 0n ? null : cursor };
}

export function encodeBalanceQuery(account, asOfNs) {
  const b = Buffer.alloc(32);
  writeU128(b, 0, account);
  b.writeBigUInt64LE(BigInt(asOfNs), 16);
  return b;
}

export function decodeBalances(body) {
  if (body.length !== 64) throw new ProtocolError(`balances of ${body.length} bytes`);
  return {
    debitsPosted: readU128(body, 0), creditsPosted: readU128(body, 16),
    debitsPending: readU128(body, 32), creditsPending: readU128(body, 48),
  };
}

export function decodeStatus(body) {
  if (body.length !== 40) throw new ProtocolError(`status of ${body.length} bytes`);
  return {
    lastLSN: body.readBigUInt64LE(0), accounts: body.readBigUInt64LE(8), residentEntries: body.readBigUInt64LE(16),
    uptimeNs: body.readBigUInt64LE(24), connections: body.readUInt32LE(32), queueDepth: body.readUInt32LE(36),
  };
}
