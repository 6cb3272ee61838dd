// The package installs into a fresh project by name, exposes exactly its
// exports map (index.js, with types), and keeps the client's internals private.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('npm install ./clients/node into a fresh project', () => {
  const project = mkdtempSync(path.join(tmpdir(), 'ledger-node-install-'));
  try {
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', type: 'module', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', packageDir], { cwd: project, stdio: 'pipe' });
    assert.ok(existsSync(path.join(project, 'node_modules', 'ledger-client', 'index.d.ts')), 'types are installed');
    const script = `
      import { Client, LedgerError, DeadlineExceeded, ConnectionRefused, protocol } from 'ledger-client';
      const c = new Client({ keyId: 'dev', secret: Buffer.alloc(32) });
      const internals = ['call', 'connected', 'acquireSlot', 'releaseSlot', 'connection', 'secret', 'keyId'].filter((k) => k in c);
      if (internals.length) throw new Error('internals visible: ' + internals);
      if (typeof protocol.encodeFrame !== 'function' || typeof LedgerError !== 'function') throw new Error('exports missing');
      let blocked = false;
      try { await import('ledger-client/src/client.js'); } catch (e) { blocked = e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'; }
      if (!blocked) throw new Error('a deep import passed the exports map');
      console.log('ok');
    `;
    writeFileSync(path.join(project, 'check.mjs'), script);
    assert.equal(execFileSync('node', ['check.mjs'], { cwd: project }).toString().trim(), 'ok');
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
