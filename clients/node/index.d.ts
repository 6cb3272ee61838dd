// Type declarations for the LedgerServer Node.js client (hand-written).
// Ids, amounts, timestamps and other 64/128-bit fields are bigint; a
// bigint-or-number is accepted where the value goes to the server.

export type U128 = bigint | number;

export type ResultCode =
  | 'ok' | 'exists' | 'existsWithDifferentFields' | 'idMustNotBeZero' | 'ledgerMustNotBeZero'
  | 'reservedFlag' | 'flagsAreMutuallyExclusive' | 'accountsFull' | 'accountNotFound' | 'accountClosed'
  | 'accountAlreadyClosed' | 'accountHasPendingBalance' | 'tooFewPostings' | 'tooManyPostings'
  | 'metadataTooLong' | 'amountMustNotBeZero' | 'invalidSide' | 'ledgerMismatch' | 'unbalanced'
  | 'overflow' | 'exceedsCredits' | 'exceedsDebits' | 'pendingIdMustBeZero' | 'pendingIdRequired'
  | 'pendingNotFound' | 'pendingAlreadyPosted' | 'pendingAlreadyVoided' | 'pendingExpired'
  | 'amountExceedsPending' | 'postingsDifferFromPending' | 'timeoutRequiresPending'
  | 'invalidEntryKind' | 'holdNotDue' | 'pendingSettledLongAgo' | 'ledgerTotalOverflow';

export type Status =
  | 'ok' | 'malformedFrame' | 'bodyChecksumMismatch' | 'unsupportedVersion' | 'unauthenticated'
  | 'unknownOperation' | 'frameTooLarge' | 'malformedBody' | 'busy' | 'rateLimited'
  | 'tooManyInFlight' | 'shuttingDown' | 'engineStopped' | 'unsupported' | 'internalError'
  | 'notPrimary' | 'diverged' | 'needBaseBackup' | 'notReplicated' | 'forbidden' | 'behind';

export type EntryKind = 'posted' | 'pending' | 'postPending' | 'voidPending';

export interface NewAccount {
  id: U128;
  ledger: number;
  code: number;
  /** 1 debitsMustNotExceedCredits, 2 creditsMustNotExceedDebits. */
  flags?: number;
  userData?: U128;
}

export interface Posting {
  account: U128;
  amount: U128;
  side: 'debit' | 'credit';
}

export interface NewEntry {
  /** The idempotency key: unique forever. */
  id: U128;
  postings?: Posting[];
  kind?: EntryKind;
  pendingId?: U128;
  timeoutSeconds?: number;
  code?: number;
  userData?: U128;
  metadata?: Uint8Array;
}

export interface Balances {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

export interface Account extends Balances {
  id: bigint;
  userData: bigint;
  ledger: number;
  code: number;
  flags: number;
  timestamp: bigint;
}

export interface Entry {
  id: bigint;
  kind: EntryKind;
  code: number;
  timeoutSeconds: number;
  pendingId: bigint;
  userData: bigint;
  postings: { account: bigint; amount: bigint; side: 'debit' | 'credit' }[];
  metadata: Buffer;
  timestamp: bigint;
  lsn: bigint;
}

export interface HistoryItem extends Balances {
  timestamp: bigint;
  lsn: bigint;
  kind: EntryKind | 'expired';
  entryId: bigint;
  debitsPostedChange: bigint;
  creditsPostedChange: bigint;
  /** Signed: holds add, settlements release. */
  debitsPendingChange: bigint;
  creditsPendingChange: bigint;
}

export interface HistoryQuery {
  account: U128;
  fromNs?: bigint | number;
  toNs?: bigint | number;
  /** The previous page's nextCursor. */
  after?: bigint | number;
  /** 1...1000 */
  limit?: number;
}

export interface ServerStatus {
  lastLSN: bigint;
  accounts: bigint;
  residentEntries: bigint;
  uptimeNs: bigint;
  connections: number;
  queueDepth: number;
}

export interface HelloReply {
  version: number;
  frameBodyBytesMax: number;
  eventsPerRequestMax: number;
  inFlightMax: number;
  directoryId: Buffer;
}

export interface ClientOptions {
  keyId: string;
  secret: Uint8Array;
  host?: string;
  port?: number;
  /** Each call's deadline, retries included (default 10,000). */
  deadlineMs?: number;
  retryDelayMsFirst?: number;
  retryDelayMsMax?: number;
  /** Speak TLS 1.2+ (the server runs with --tls-certificate); caFile: PEM roots to trust instead of the system's. */
  tls?: { caFile?: string; serverName?: string };
  /** Protocol versions offered in hello (default [1, 2]; 2 carries write LSNs and read-your-writes). */
  protocolVersions?: [number, number];
  /** How long a server may wait for readMinLSN before answering 'behind' (default 5,000; at most 60,000). */
  readWaitMs?: number;
}

/** The server refused the request; nothing it carried was applied. */
export class LedgerError extends Error {
  /** A protocol status, or 'tlsVerificationFailed' when the server's certificate does not verify. */
  status: Status | 'tlsVerificationFailed';
  serverMessage: string;
}

/** No definitive answer in time: retry with the same ids. */
export class DeadlineExceeded extends Error {}
/** Nothing listens at the address and the client never reached a server there (thrown at once). */
export class ConnectionRefused extends Error {}

export class Client {
  constructor(options: ClientOptions);
  server: HelloReply | null;
  retries: number;
  readWaitMs: number;
  /** The highest LSN a write through this client committed at (protocol 2). */
  lastWriteLSN: bigint;
  /** Reads are served only where this LSN is applied (its own writes', and any passed to readYourWrites). */
  readMinLSN: bigint;
  readYourWrites(lsn: bigint): void;
  createAccounts(accounts: NewAccount[]): Promise<ResultCode[]>;
  closeAccounts(ids: U128[]): Promise<ResultCode[]>;
  submit(entries: NewEntry[]): Promise<ResultCode[]>;
  lookupAccounts(ids: U128[]): Promise<(Account | null)[]>;
  lookupEntries(ids: U128[]): Promise<(Entry | null)[]>;
  history(query: HistoryQuery): Promise<{ items: HistoryItem[]; nextCursor: bigint | null }>;
  balanceAsOf(account: U128, asOfNs: bigint | number): Promise<Balances>;
  status(): Promise<ServerStatus>;
  close(): void;
}

/** A primary and its standbys: writes follow `notPrimary`, reads go to standbys. */
export class Cluster {
  /** `host:port` addresses, the presumed primary first; options apply to every address. */
  constructor(addresses: string[], options: Omit<ClientOptions, 'host' | 'port'>);
  addresses: string[];
  primary: string;
  /** The highest LSN the cluster's writes committed at: every read waits for it. */
  lastWriteLSN: bigint;
  /** Reads sent on to the primary because a standby answered 'behind'. */
  standbyReadsBehind: number;
  write<T>(call: (client: Client) => Promise<T>): Promise<T>;
  read<T>(call: (client: Client) => Promise<T>, target?: 'standby' | 'primary'): Promise<T>;
  createAccounts(accounts: NewAccount[]): Promise<ResultCode[]>;
  submit(entries: NewEntry[]): Promise<ResultCode[]>;
  lookupAccounts(ids: U128[], target?: 'standby' | 'primary'): Promise<(Account | null)[]>;
  status(target?: 'standby' | 'primary'): Promise<ServerStatus>;
  close(): void;
}

export namespace protocol {
  const VERSION: number;
  const VERSIONS: [number, number];
  const READ_YOUR_WRITES_VERSION: number;
  const READ_WAIT_MS_MAX: number;
  const HEADER_BYTES: number;
  const FRAME_BODY_BYTES_MAX: number;
  const EVENTS_PER_REQUEST_MAX: number;
  const NO_END: bigint;
  const RESULTS: ResultCode[];
  const STATUSES: Status[];
  class ProtocolError extends Error {}
  function crc32c(bytes: Uint8Array): number;
  function maskedCRC(bytes: Uint8Array): number;
  function encodeFrame(operation: number, requestId: bigint | number, body?: Buffer, status?: number): Buffer;
  function decodeFrame(frame: Buffer): { operation: number; requestId: bigint; status: number; body: Buffer };
  function encodeHello(keyId: string, secret: Uint8Array, versions?: [number, number]): Buffer;
  function decodeHelloReply(body: Buffer): HelloReply;
  function accountEvent(account: NewAccount): Buffer;
  function closeAccountEvent(id: U128): Buffer;
  function entryEvent(entry: NewEntry): Buffer;
  function decodeEntryEvent(buf: Buffer, offset?: number): { entry: Omit<Entry, 'timestamp' | 'lsn'>; size: number };
  function encodeBatch(events: Buffer[]): Buffer;
  function decodeResults(body: Buffer, count: number): ResultCode[];
  function encodeResults(results: ResultCode[]): Buffer;
  function encodeIds(ids: U128[]): Buffer;
  function decodeAccounts(body: Buffer, count: number): (Account | null)[];
  function decodeEntries(body: Buffer, count: number): (Entry | null)[];
  function encodeHistoryQuery(query: HistoryQuery): Buffer;
  function decodeHistoryPage(body: Buffer): { items: HistoryItem[]; nextCursor: bigint | null };
  function encodeBalanceQuery(account: U128, asOfNs: bigint | number): Buffer;
  function decodeBalances(body: Buffer): Balances;
  function decodeStatus(body: Buffer): ServerStatus;
}
