// A Node.js client for LedgerServer (Specs/protocol.md).
//
// - One TCP connection, opened with the handshake on first use and re-opened
//   after it drops.
// - Pipelining: concurrent calls share the connection, up to the server's
//   inFlightMax requests at once; replies are matched by request id.
// - Deadlines: every call settles within `deadlineMs`, with an answer, a
//   LedgerError (refused: nothing applied) or a DeadlineExceeded (unknown:
//   retry with the same ids).
// - Retries: busy, rateLimited, tooManyInFlight, shuttingDown, engineStopped
//   and a dropped connection are retried with the same bytes (the same ids)
//   until the deadline; idempotency makes that safe, so treat 'ok' and
//   'exists' alike.
// - Read-your-writes (protocol version 2, offered in hello): each write
//   reply carries its commit LSN; reads carry the highest one seen
//   (readMinLSN), and a server that has not applied it waits up to
//   readWaitMs, then answers 'behind' (a LedgerError).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import * as p from './protocol.js';

const RETRIED = new Set(['busy', 'rateLimited', 'tooManyInFlight', 'shuttingDown', 'engineStopped']);

export class LedgerError extends Error {
  constructor(status, message) {
    super(`${status}: ${message}`);
    this.status = status;
    this.serverMessage = message;
  }
}

export class DeadlineExceeded extends Error {}

/** Nothing listens at the address and this client never reached a server
 * there: thrown at once instead of retrying until the deadline. (Once a
 * client has connected, a refused reconnect is a restarting server and is
 * retried.) */
export class ConnectionRefused extends Error {}

class ConnectionClosed extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** A socket and the requests waiting for their replies. */
class Connection {
  constructor(socket) {
    this.socket = socket;
    this.waiting = new Map(); // request id (BigInt) -> { resolve, reject }
    this.closed = false;
    this.buffer = Buffer.alloc(0);
    this.version = p.VERSION; // set once hello agrees on one
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => {}); // 'close' follows
  }

  /** tlsOptions: null for plain TCP, or node:tls connect options (ca, servername). */
  static open(host, port, timeoutMs, tlsOptions) {
    return new Promise((resolve, reject) => {
      const socket = tlsOptions
        ? tls.connect({ host, port, minVersion: 'TLSv1.2', ...tlsOptions })
        : net.connect({ host, port });
      const timer = setTimeout(() => { socket.destroy(); reject(new ConnectionClosed('connect timed out')); }, Math.max(1, timeoutMs));
      socket.once(tlsOptions ? 'secureConnect' : 'connect', () => { clearTimeout(timer); resolve(new Connection(socket)); });
      socket.once('error', (e) => {
        clearTimeout(timer);
        // A certificate that does not verify is definitive: retrying cannot fix it.
        reject(e.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(e.code) ? new LedgerError('tlsVerificationFailed', e.message) : new ConnectionClosed(e.message, e.code));
      });
    });
  }

  onData(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      while (this.buffer.length >= p.HEADER_BYTES) {
        const h = p.decodeHeader(this.buffer.subarray(0, p.HEADER_BYTES));
        if (this.buffer.length < p.HEADER_BYTES + h.bodyBytes) break;
        const body = Buffer.from(this.buffer.subarray(p.HEADER_BYTES, p.HEADER_BYTES + h.bodyBytes));
        this.buffer = this.buffer.subarray(p.HEADER_BYTES + h.bodyBytes);
        if (p.maskedCRC(body) !== h.bodyCRC) throw new p.ProtocolError('reply body checksum mismatch');
        const waiter = this.waiting.get(h.requestId);
        if (waiter) {
          this.waiting.delete(h.requestId);
          waiter.resolve({ version: h.version, operation: h.operation, status: h.status, body });
        }
      }
    } catch {
      this.socket.destroy(); // a stream that fails its checksums cannot be trusted
    }
  }

  onClose() {
    this.closed = true;
    for (const waiter of this.waiting.values()) waiter.reject(new ConnectionClosed('connection closed'));
    this.waiting.clear();
  }

  request(operation, requestId, body, deadline) {
    if (this.closed) return Promise.reject(new ConnectionClosed('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId); // a late reply is dropped
        reject(new DeadlineExceeded('deadline exceeded'));
      }, Math.max(0, deadline - Date.now()));
      this.waiting.set(requestId, {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.socket.write(p.encodeFrame(operation, requestId, body, 0, this.version));
    });
  }

  close() { this.socket.destroy(); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Client {
  // Internals: private, so the API is the methods below and nothing else.
  #keyId; #secret; #tlsOptions; #connection = null; #connecting = null;
  #everConnected = false; // a refusal before the first handshake is final
  #nextId = 2n; // 1 is each connection's hello
  #inFlight = 0; #slotWaiters = [];
  #protocolVersions;

  /**
   * @param {{ keyId: string, secret: Uint8Array, host?: string, port?: number, deadlineMs?: number,
   *           retryDelayMsFirst?: number, retryDelayMsMax?: number,
   *           tls?: { caFile?: string, serverName?: string }, protocolVersions?: [number, number], readWaitMs?: number }} options
   */
  constructor({
    keyId, secret, host = '127.0.0.1', port = p.DEFAULT_PORT, deadlineMs = 10_000, retryDelayMsFirst = 2, retryDelayMsMax = 200, tls: tlsSettings,
    protocolVersions = p.VERSIONS, readWaitMs = 5_000,
  }) {
    Object.assign(this, { host, port, deadlineMs, retryDelayMsFirst, retryDelayMsMax });
    this.#protocolVersions = protocolVersions;
    this.readWaitMs = Math.min(readWaitMs, p.READ_WAIT_MS_MAX);
    this.lastWriteLSN = 0n; // the highest LSN a write through this client committed at
    this.readMinLSN = 0n; // reads are served only where this LSN is applied
    this.#keyId = keyId;
    this.#secret = Buffer.from(secret);
    this.#tlsOptions = tlsSettings
      ? { ...(tlsSettings.caFile ? { ca: readFileSync(tlsSettings.caFile) } : {}), servername: tlsSettings.serverName ?? host }
      : null;
    this.server = null; // the hello reply: the server's limits
    this.retries = 0;
  }

  async createAccounts(accounts) { return this.#write('createAccounts', accounts.map(p.accountEvent)); }
  async closeAccounts(ids) { return this.#write('createAccounts', ids.map(p.closeAccountEvent)); }
  async submit(entries) { return this.#write('submitEntries', entries.map(p.entryEvent)); }

  /** Later reads wait until their server has `lsn` (a write's commit LSN, a BigInt). */
  readYourWrites(lsn) { if (lsn > this.readMinLSN) this.readMinLSN = lsn; }

  async lookupAccounts(ids) { return p.decodeAccounts(await this.#read('lookupAccounts', p.encodeIds(ids)), ids.length); }
  async lookupEntries(ids) { return p.decodeEntries(await this.#read('lookupEntries', p.encodeIds(ids)), ids.length); }
  async history(query) { return p.decodeHistoryPage(await this.#read('accountHistory', p.encodeHistoryQuery(query))); }
  async balanceAsOf(account, asOfNs) { return p.decodeBalances(await this.#read('balanceAsOf', p.encodeBalanceQuery(account, asOfNs))); }
  async status() { return p.decodeStatus((await this.#call('status', () => Buffer.alloc(0))).body); }

  async #write(operation, events) {
    const body = p.encodeBatch(events);
    const reply = await this.#call(operation, () => body);
    if (reply.version < p.READ_YOUR_WRITES_VERSION) return p.decodeResults(reply.body, events.length);
    const { results, lsn } = p.decodeCommittedResults(reply.body, events.length);
    if (lsn > this.lastWriteLSN) this.lastWriteLSN = lsn;
    this.readYourWrites(lsn);
    return results;
  }

  async #read(operation, body) {
    const prefix = p.encodeReadPrefix(this.readMinLSN, this.readWaitMs);
    return (await this.#call(operation, (version) => (version >= p.READ_YOUR_WRITES_VERSION ? Buffer.concat([prefix, body]) : body))).body;
  }

  close() {
    this.#connection?.close();
    this.#connection = null;
  }

  async #connected(deadline) {
    if (this.#connection && !this.#connection.closed) return this.#connection;
    if (!this.#connecting) {
      this.#connecting = (async () => {
        const c = await Connection.open(this.host, this.port, deadline - Date.now(), this.#tlsOptions);
        const reply = await c.request(p.OPERATIONS.hello, 1n, p.encodeHello(this.#keyId, this.#secret, this.#protocolVersions), deadline);
        if (reply.status !== 0) {
          c.close();
          throw new LedgerError(p.STATUSES[reply.status] ?? reply.status, reply.body.toString('utf8'));
        }
        const server = p.decodeHelloReply(reply.body);
        const [low, high] = this.#protocolVersions;
        if (server.version < low || server.version > high || reply.version !== server.version) {
          c.close();
          throw new p.ProtocolError(`hello answered with version ${server.version} in a version ${reply.version} frame`);
        }
        c.version = server.version;
        this.server = server;
        this.#connection = c;
        this.#everConnected = true;
        return c;
      })().finally(() => { this.#connecting = null; });
    }
    return this.#connecting;
  }

  async #acquireSlot() {
    if (this.#inFlight < (this.server?.inFlightMax ?? 1)) { this.#inFlight++; return; }
    await new Promise((resolve) => this.#slotWaiters.push(resolve)); // the releaser hands its slot over
  }

  #releaseSlot() {
    const next = this.#slotWaiters.shift();
    if (next) next(); else this.#inFlight--;
  }

  /** Sends the body `encode(version)` makes for the connection until a
   * definitive reply or the deadline; the 'ok' reply ({ version, body }). */
  async #call(operation, encode) {
    const code = p.OPERATIONS[operation];
    const deadline = Date.now() + this.deadlineMs;
    let delay = this.retryDelayMsFirst;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.retries++;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new DeadlineExceeded(`${operation}: deadline exceeded`);
        await sleep(Math.min(delay, remaining));
        delay = Math.min(delay * 2, this.retryDelayMsMax);
      }
      if (Date.now() >= deadline) throw new DeadlineExceeded(`${operation}: deadline exceeded`);
      let connection;
      try {
        connection = await this.#connected(deadline);
      } catch (e) {
        if (e instanceof ConnectionClosed && e.code === 'ECONNREFUSED' && !this.#everConnected) {
          throw new ConnectionRefused(`connection refused by ${this.host}:${this.port}: no server listens there`);
        }
        if (e instanceof ConnectionClosed || e instanceof DeadlineExceeded) continue;
        throw e;
      }
      await this.#acquireSlot();
      const requestId = this.#nextId;
      this.#nextId = this.#nextId === p.NO_END ? 2n : this.#nextId + 1n;
      let reply;
      try {
        reply = await connection.request(code, requestId, encode(connection.version), deadline);
      } catch (e) {
        if (e instanceof ConnectionClosed) continue;
        throw e;
      } finally {
        this.#releaseSlot();
      }
      const status = p.STATUSES[reply.status];
      if (reply.operation !== code || status === undefined) {
        connection.close();
        throw new p.ProtocolError(`reply with operation ${reply.operation}, status ${reply.status}`);
      }
      if (status === 'ok') return reply;
      if (RETRIED.has(status)) {
        if (status === 'shuttingDown' || status === 'engineStopped') connection.close();
        continue;
      }
      throw new LedgerError(status, reply.body.toString('utf8'));
    }
  }
}
