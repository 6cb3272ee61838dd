export { Client, LedgerError, DeadlineExceeded } from './src/client.js';
export * as protocol from './src/protocol.js';
