// Starts a real LedgerServer (LEDGER_SERVER, or the debug build) for the tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function readVector(name) {
  const text = readFileSync(path.join(ROOT, 'Specs', 'vectors', name), 'utf8');
  return Buffer.from(text.split('\n').filter((l) => !l.startsWith('#')).join('').replace(/\s+/g, ''), 'hex');
}

export async function startServer({ directory, port = 0, args = [] } = {}) {
  const bin = process.env.LEDGER_SERVER ?? path.join(ROOT, '.build', 'debug', 'LedgerServer');
  const dir = directory ?? mkdtempSync(path.join(tmpdir(), 'ledger-node-'));
  const child = spawn(bin, ['--data-dir', path.join(dir, 'data'), '--port', String(port), '--no-metrics', '--create-dev-key', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  const started = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on [^:]*:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`LedgerServer exited: ${text}`)));
  });
  const secret = text.match(/secret ([0-9a-f]+)/);
  return {
    port: started, directory: dir, secret: secret ? Buffer.from(secret[1], 'hex') : null, child,
    kill() { child.kill('SIGKILL'); return new Promise((r) => child.once('exit', r)); },
    stop({ keep = false } = {}) {
      return new Promise((resolve) => {
        child.once('exit', (code) => { if (!keep) rmSync(dir, { recursive: true, force: true }); resolve(code); });
        child.kill('SIGTERM');
      });
    },
  };
}
