// The Node cluster client against a real primary and standby: a write sent
// to the standby follows `notPrimary` to the primary, and reads go to the
// standby, which serves them only once it has applied the cluster's own
// writes (read-your-writes), or answers 'behind' at the read's deadline.
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
    // Each write is seen by a standby read right after it: no polling.
    for (let n = 1n; n <= 10n; n++) {
      const posting = [{ account: 1n, amount: 5n, side: 'debit' }, { account: 2n, amount: 5n, side: 'credit' }];
      assert.deepEqual(await cluster.submit([{ id: 10n + n, postings: posting }]), ['ok']);
      const accounts = await cluster.lookupAccounts([1n, 2n], 'standby');
      assert.deepEqual([accounts[0].debitsPosted, accounts[1].creditsPosted], [5n * n, 5n * n]);
    }
    assert.equal(cluster.standbyReadsBehind, 0);
    assert.ok(cluster.lastWriteLSN > 0n);
    // An LSN the standby does not have, with no wait: 'behind' at once.
    const impatient = new Client({ keyId: 'dev', secret: secrets.dev, port: standby.port, readWaitMs: 0 });
    impatient.readYourWrites(cluster.lastWriteLSN + 1_000_000n);
    await assert.rejects(impatient.lookupAccounts([1n]),
      (e) => e instanceof LedgerError && e.status === 'behind' && e.serverMessage.includes(`the read asked for ${cluster.lastWriteLSN + 1_000_000n}`));
    assert.ok((await impatient.status()).lastLSN >= cluster.lastWriteLSN, 'the connection is still usable');
    impatient.close();
    direct.close();
    cluster.close();
  } finally {
    assert.equal(await standby.stop(), 0);
    assert.equal(await primary.stop(), 0);
    rmSync(work, { recursive: true, force: true });
  }
});
