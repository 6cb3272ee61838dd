// The shared vectors in Specs/vectors decoded and re-encoded byte for byte,
// so this client stays byte-compatible with the Swift and Python ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as p from '../src/protocol.js';
import { readVector } from './helpers.js';

const SECRET = Buffer.from([...Array(32).keys()]);
const T = 1_700_000_000_000_000_000n;
const ENTRY = {
  id: 1001n, code: 1, metadata: Buffer.from('gw:ch_42'),
  postings: [{ account: 1n, amount: 2500n, side: 'debit' }, { account: 2n, amount: 2500n, side: 'credit' }],
};

function roundtrip(name, operation, requestId, body, status = 0, version = 1) {
  const frame = readVector(name);
  const decoded = p.decodeFrame(frame);
  assert.deepEqual([decoded.operation, decoded.requestId, decoded.status], [operation, BigInt(requestId), status]);
  assert.equal(p.decodeHeader(frame.subarray(0, p.HEADER_BYTES)).version, version);
  assert.ok(decoded.body.equals(body), `${name}: body`);
  assert.ok(p.encodeFrame(operation, requestId, body, status, version).equals(frame), `${name}: re-encoded`);
  return decoded;
}

test('protocol version 2: write LSNs and read-your-writes', () => {
  roundtrip('protocol-v2-hello.hex', 1, 1, p.encodeHello('dev', SECRET, [1, 2]));
  const reply = roundtrip('protocol-v2-results.hex', 3, 2, p.encodeCommittedResults(['ok'], 4242n), 0, 2);
  assert.deepEqual(p.decodeCommittedResults(reply.body, 1), { results: ['ok'], lsn: 4242n });
  assert.throws(() => p.decodeResults(reply.body, 1), p.ProtocolError); // a version 1 reader refuses it
  const body = Buffer.concat([p.encodeReadPrefix(4242n, 5000), p.encodeIds([1n, 2n])]);
  roundtrip('protocol-v2-lookup-accounts.hex', 4, 4, body, 0, 2);
  const split = p.splitReadPrefix(body);
  assert.deepEqual([split.minLSN, split.waitMs], [4242n, 5000]);
  assert.ok(split.body.equals(p.encodeIds([1n, 2n])));
  const damaged = Buffer.from(body);
  damaged[12] = 1;
  assert.throws(() => p.splitReadPrefix(damaged), p.ProtocolError);
  assert.throws(() => p.encodeReadPrefix(1n, p.READ_WAIT_MS_MAX + 1), RangeError);
  roundtrip('protocol-v2-behind.hex', 4, 4, Buffer.from('applied LSN 4000 < 4242'), p.STATUSES.indexOf('behind'), 2);
});

test('events', () => {
  assert.ok(p.entryEvent(ENTRY).equals(readVector('event-entry-posted.hex')));
  const { entry, size } = p.decodeEntryEvent(readVector('event-entry-posted.hex'));
  assert.deepEqual([entry.id, entry.postings, entry.metadata.toString(), size], [1001n, ENTRY.postings, 'gw:ch_42', 152]);
  assert.ok(p.accountEvent({ id: 2n, ledger: 840, code: 1, flags: 1 }).equals(readVector('event-create-account.hex')));
  assert.ok(p.closeAccountEvent(2n).equals(readVector('event-close-account.hex')));
});

test('hello', () => { roundtrip('protocol-hello.hex', 1, 1, p.encodeHello('dev', SECRET)); });

test('submit and results', () => {
  roundtrip('protocol-submit.hex', 3, 2, p.encodeBatch([p.entryEvent(ENTRY)]));
  const reply = roundtrip('protocol-results.hex', 3, 2, p.encodeResults(['ok']));
  assert.deepEqual(p.decodeResults(reply.body, 1), ['ok']);
});

test('busy', () => { roundtrip('protocol-busy.hex', 3, 3, Buffer.from('queue full'), p.STATUSES.indexOf('busy')); });

test('queries', () => {
  roundtrip('protocol-lookup-accounts.hex', 4, 4, p.encodeIds([1n, 2n]));
  roundtrip('protocol-history-query.hex', 6, 5, p.encodeHistoryQuery({ account: 2n, fromNs: T, limit: 100 }));
  roundtrip('protocol-balance-query.hex', 7, 6, p.encodeBalanceQuery(2n, T));
});

test('every flipped byte is refused', () => {
  const frame = readVector('protocol-submit.hex');
  for (let i = 0; i < frame.length; i++) {
    const damaged = Buffer.from(frame);
    damaged[i] ^= 1;
    assert.throws(() => p.decodeFrame(damaged), p.ProtocolError, `byte ${i}`);
  }
});
