export { Client, LedgerError, DeadlineExceeded, ConnectionRefused } from './src/client.js';
export * as protocol from './src/protocol.js';
