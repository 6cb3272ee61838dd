export { Client, LedgerError, DeadlineExceeded, ConnectionRefused } from './src/client.js';
export { Cluster } from './src/cluster.js';
export * as protocol from './src/protocol.js';
