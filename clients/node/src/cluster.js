// A primary and its standbys behind one handle (Specs/replication.md):
// writes go to the primary, and a `notPrimary` refusal (whose message is the
// primary's `host:port`) is followed at once (nothing was applied where it
// was refused); reads go to the standbys, round robin, or to the primary.
// One Client per address.
//
// Read-your-writes (protocol version 2): the cluster remembers the highest
// LSN its writes committed at and sends it with every read; a standby that
// has not applied it within readWaitMs answers 'behind', and the read goes
// to the primary.
import { Client, LedgerError } from './client.js';
import { READ_YOUR_WRITES_VERSION } from './protocol.js';

const REDIRECTS_MAX = 4; // a loop of standbys naming each other is a misconfiguration

function splitAddress(address) {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: address.slice(0, colon), port };
}

export class Cluster {
  #options; #clients = new Map(); #nextStandby = 0;

  /**
   * @param {string[]} addresses `host:port`, the presumed primary first
   * @param {object} options Client options (keyId, secret, deadlines…) for every address
   */
  constructor(addresses, options) {
    if (addresses.length === 0 || addresses.some((a) => splitAddress(a) === null)) throw new TypeError('addresses must be host:port');
    this.addresses = [...addresses];
    this.primary = addresses[0];
    this.#options = options;
    this.lastWriteLSN = 0n;
    this.standbyReadsBehind = 0; // reads sent on to the primary after 'behind'
  }

  #client(address) {
    if (!this.#clients.has(address)) this.#clients.set(address, new Client({ ...this.#options, ...splitAddress(address) }));
    return this.#clients.get(address);
  }

  async write(call) {
    let address = this.primary;
    for (let i = 0; i <= REDIRECTS_MAX; i++) {
      try {
        const writer = this.#client(address);
        const result = await call(writer);
        if (writer.lastWriteLSN > this.lastWriteLSN) this.lastWriteLSN = writer.lastWriteLSN;
        return result;
      } catch (e) {
        if (!(e instanceof LedgerError) || e.status !== 'notPrimary' || splitAddress(e.serverMessage) === null || e.serverMessage === address) throw e;
        address = this.primary = e.serverMessage;
      }
    }
    throw new LedgerError('notPrimary', `${REDIRECTS_MAX} servers in a row said they are not the primary`);
  }

  async read(call, target = 'standby') {
    const standbys = this.addresses.filter((a) => a !== this.primary);
    if (target !== 'standby' || standbys.length === 0) return this.#readOn(this.primary, call);
    const address = standbys[this.#nextStandby++ % standbys.length];
    let result;
    try {
      result = await this.#readOn(address, call);
    } catch (e) {
      if (!(e instanceof LedgerError) || e.status !== 'behind') throw e;
      this.standbyReadsBehind++;
      return this.#readOn(this.primary, call);
    }
    const version = this.#client(address).server?.version ?? 0;
    // A version 1 standby could not be asked to wait for our writes.
    if (this.lastWriteLSN > 0n && version < READ_YOUR_WRITES_VERSION) return this.#readOn(this.primary, call);
    return result;
  }

  #readOn(address, call) {
    const reader = this.#client(address);
    reader.readYourWrites(this.lastWriteLSN);
    return call(reader);
  }

  createAccounts(accounts) { return this.write((c) => c.createAccounts(accounts)); }
  submit(entries) { return this.write((c) => c.submit(entries)); }
  lookupAccounts(ids, target = 'standby') { return this.read((c) => c.lookupAccounts(ids), target); }
  status(target = 'primary') { return this.read((c) => c.status(), target); }

  close() {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
