// The Node cluster client against a real primary and standby: a write sent
// to the standby follows `notPrimary` to the primary, and reads go to the
// standby once it has caught up.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { Client, Cluster, LedgerError } from '../index.js';
import { ROOT, startServer } from './helpers.js';

test('writes follow notPrimary and reads go to the standby', async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'ledger-node-cluster-'));
  const secrets = {};
  const lines = [['dev', ''], ['repl', ' role=replication']].map(([key, role]) => {
    const salt = randomBytes(16);
    secrets[key] = randomBytes(32);
    return `${key} ${salt.toString('hex')} ${createHash('sha256').update(salt).update(secrets[key]).digest('hex')}${role}`;
  });
  const keys = path.join(work, 'api-keys');
  writeFileSync(keys, lines.join('\n') + '\n');
  const replicationKey = path.join(work, 'repl.key');
  writeFileSync(replicationKey, `repl ${secrets.repl.toString('hex')}\n`);
  const primary = await startServer({ args: ['--keys-file', keys] });
  const ledgerctl = path.join(path.dirname(process.env.LEDGER_SERVER ?? path.join(ROOT, '.build', 'debug', 'LedgerServer')), 'ledgerctl');
  const standbyDirectory = path.join(work, 'standby');
  mkdirSync(standbyDirectory);
  execFileSync(ledgerctl, ['basebackup', '--server', `127.0.0.1:${primary.port}`, '--key-id', 'repl', '--secret', secrets.repl.toString('hex'),
    '--to', path.join(standbyDirectory, 'data')], { stdio: 'ignore' });
  const standby = await startServer({ directory: standbyDirectory, args: ['--keys-file', keys, '--standby-of', `127.0.0.1:${primary.port}`, '--replication-key-file', replicationKey] });
  const [standbyAddress, primaryAddress] = [`127.0.0.1:${standby.port}`, `127.0.0.1:${primary.port}`];
  try {
    const direct = new Client({ keyId: 'dev', secret: secrets.dev, port: standby.port });
    await assert.rejects(direct.createAccounts([{ id: 1n, ledger: 840, code: 1 }]),
      (e) => e instanceof LedgerError && e.status === 'notPrimary' && e.serverMessage === primaryAddress);
    const cluster = new Cluster([standbyAddress, primaryAddress], { keyId: 'dev', secret: secrets.dev, deadlineMs: 30_000 });
    assert.deepEqual(await cluster.createAccounts([{ id: 1n, ledger: 840, code: 1 }, { id: 2n, ledger: 840, code: 1 }]), ['ok', 'ok']);
    assert.equal(cluster.primary, primaryAddress);
    assert.deepEqual(await cluster.submit([{ id: 10n, postings: [{ account: 1n, amount: 5n, side: 'debit' }, { account: 2n, amount: 5n, side: 'credit' }] }]), ['ok']);
    const target = (await cluster.status('primary')).lastLSN;
    const deadline = Date.now() + 30_000;
    while ((await direct.status()).lastLSN < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const accounts = await cluster.lookupAccounts([1n, 2n], 'standby');
    assert.deepEqual([accounts[0].debitsPosted, accounts[1].creditsPosted], [5n, 5n]);
    direct.close();
    cluster.close();
  } finally {
    assert.equal(await standby.stop(), 0);
    assert.equal(await primary.stop(), 0);
    rmSync(work, { recursive: true, force: true });
  }
});
