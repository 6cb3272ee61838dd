// The Node client against a real LedgerServer: every operation, concurrent
// pipelined calls, result codes, refusals, deadlines, and a retry across a
// SIGKILL and restart that applies each id once.
import { test, before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Client, ConnectionRefused, DeadlineExceeded, LedgerError, protocol } from '../index.js';
import { startServer } from './helpers.js';

const usd = (id, flags = 0) => ({ id, ledger: 840, code: 1, flags });
const transfer = (id, debit, credit, amount, extra = {}) => ({
  id, postings: [{ account: debit, amount, side: 'debit' }, { account: credit, amount, side: 'credit' }], ...extra,
});

let server;
let client;

before(async () => {
  server = await startServer();
  client = new Client({ keyId: 'dev', secret: server.secret, port: server.port });
  assert.deepEqual(await client.createAccounts([usd(1n), usd(2n), usd(3n, 1)]), ['ok', 'ok', 'ok']);
});

after(async () => {
  client.close();
  assert.equal(await server.stop(), 0);
});

test('every operation', async () => {
  assert.deepEqual(await client.submit([transfer(100n, 1n, 2n, 250n, { metadata: Buffer.from('order-9') }), transfer(101n, 1n, 2n, 50n)]), ['ok', 'ok']);
  assert.deepEqual(await client.submit([transfer(100n, 1n, 2n, 250n, { metadata: Buffer.from('order-9') })]), ['exists']);
  assert.deepEqual(await client.submit([transfer(100n, 1n, 2n, 999n)]), ['existsWithDifferentFields']);
  const [one, , missing] = await client.lookupAccounts([1n, 2n, 404n]);
  assert.equal(missing, null);
  assert.ok(one.debitsPosted >= 300n);
  const [entry, none] = await client.lookupEntries([100n, 404n]);
  assert.deepEqual([entry.id, entry.metadata.toString(), entry.postings[0]], [100n, 'order-9', { account: 1n, amount: 250n, side: 'debit' }]);
  assert.equal(none, null);
  const page = await client.history({ account: 2n, limit: 1 });
  assert.equal(page.items.length, 1);
  assert.notEqual(page.nextCursor, null);
  const rest = await client.history({ account: 2n, after: page.nextCursor, limit: 1000 });
  const total = [...page.items, ...rest.items].reduce((s, i) => s + i.creditsPostedChange, 0n);
  assert.equal(total, (await client.lookupAccounts([2n]))[0].creditsPosted);
  const asOf = await client.balanceAsOf(2n, page.items[0].timestamp);
  assert.equal(asOf.creditsPosted, page.items[0].creditsPosted);
  const status = await client.status();
  assert.equal(status.accounts, 3n);
  assert.ok(status.lastLSN >= 1n);
});

test('result codes and holds', async () => {
  assert.deepEqual(await client.submit([transfer(200n, 3n, 1n, 5n)]), ['exceedsCredits']);
  assert.deepEqual(await client.submit([transfer(201n, 1n, 99n, 5n)]), ['accountNotFound']);
  assert.deepEqual(await client.submit([transfer(210n, 2n, 1n, 40n, { kind: 'pending' })]), ['ok']);
  assert.equal((await client.lookupAccounts([2n]))[0].debitsPending, 40n);
  assert.deepEqual(await client.submit([{ id: 211n, kind: 'voidPending', pendingId: 210n }]), ['ok']);
  assert.deepEqual(await client.submit([{ id: 212n, kind: 'postPending', pendingId: 210n }]), ['pendingAlreadyVoided']);
  assert.equal((await client.lookupAccounts([2n]))[0].debitsPending, 0n);
});

/** Hello, then one frame with `body`; the decoded reply header. */
async function rawExchange(port, secret, operation, body) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.write(protocol.encodeFrame(protocol.OPERATIONS.hello, 1n, protocol.encodeHello('dev', secret)));
  socket.write(protocol.encodeFrame(operation, 2n, body));
  let buffer = Buffer.alloc(0);
  const replies = [];
  for await (const chunk of socket) {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= protocol.HEADER_BYTES) {
      const header = protocol.decodeHeader(buffer.subarray(0, protocol.HEADER_BYTES));
      if (buffer.length < protocol.HEADER_BYTES + header.bodyBytes) break;
      replies.push(header);
      buffer = buffer.subarray(protocol.HEADER_BYTES + header.bodyBytes);
    }
    if (replies.length === 2) break;
  }
  socket.destroy();
  return replies[1];
}

test('refusals', async () => {
  // The client refuses to encode a malformed body, so send one by hand.
  const reply = await rawExchange(server.port, server.secret, protocol.OPERATIONS.balanceAsOf, Buffer.from([1, 2]));
  assert.equal(protocol.STATUSES[reply.status], 'malformedBody');
  const wrong = new Client({ keyId: 'dev', secret: Buffer.alloc(32), port: server.port, deadlineMs: 2000 });
  await assert.rejects(wrong.status(), (e) => e instanceof LedgerError && e.status === 'unauthenticated');
  assert.equal((await client.status()).accounts, 3n, 'still served after a refusal');
});

test('concurrent calls are pipelined on one connection', async () => {
  const before = (await client.lookupAccounts([1n]))[0].debitsPosted;
  const calls = [];
  for (let i = 0; i < 500; i++) calls.push(client.submit([transfer(10_000n + BigInt(i), 1n, 2n, 1n)]));
  const results = await Promise.all(calls);
  assert.ok(results.every((r) => r[0] === 'ok'));
  assert.equal((await client.lookupAccounts([1n]))[0].debitsPosted, before + 500n);
});

test('a closed port is reported at once as connection refused, not at the deadline', async () => {
  const lonely = new Client({ keyId: 'dev', secret: Buffer.alloc(32), port: 1, deadlineMs: 10_000 });
  const started = Date.now();
  await assert.rejects(lonely.status(), (e) => e instanceof ConnectionRefused && /refused/.test(e.message));
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
});

test('a retry across a SIGKILL and restart applies each id once', async () => {
  const first = await startServer();
  const c = new Client({ keyId: 'dev', secret: first.secret, port: first.port, deadlineMs: 30_000 });
  assert.deepEqual(await c.createAccounts([usd(1n), usd(2n)]), ['ok', 'ok']);
  assert.deepEqual(await c.submit([transfer(7n, 1n, 2n, 5n)]), ['ok']);
  await first.kill();
  const retried = c.submit([transfer(7n, 1n, 2n, 5n), transfer(8n, 1n, 2n, 5n)]);
  await new Promise((r) => setTimeout(r, 300));
  const second = await startServer({ directory: first.directory, port: first.port });
  assert.deepEqual(await retried, ['exists', 'ok']);
  assert.ok(c.retries > 0);
  assert.equal((await c.lookupAccounts([1n]))[0].debitsPosted, 10n);
  c.close();
  assert.equal(await second.stop(), 0);
});

test('TLS: served only to clients that trust the certificate', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ledger-node-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const tlsServer = await startServer({ args: ['--tls-certificate', cert, '--tls-private-key', key] });
  try {
    const c = new Client({ keyId: 'dev', secret: tlsServer.secret, port: tlsServer.port, tls: { caFile: cert, serverName: 'localhost' } });
    assert.deepEqual(await c.createAccounts([usd(1n)]), ['ok']);
    assert.equal((await c.status()).accounts, 1n);
    c.close();
    const plain = new Client({ keyId: 'dev', secret: tlsServer.secret, port: tlsServer.port, deadlineMs: 1000 });
    await assert.rejects(plain.status(), DeadlineExceeded);
    plain.close();
    const untrusting = new Client({ keyId: 'dev', secret: tlsServer.secret, port: tlsServer.port, deadlineMs: 2000, tls: { serverName: 'localhost' } });
    await assert.rejects(untrusting.status(), (e) => e instanceof LedgerError && e.status === 'tlsVerificationFailed');
  } finally {
    assert.equal(await tlsServer.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
