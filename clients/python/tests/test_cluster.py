"""The Python cluster client against a real primary and standby: a write
sent to the standby follows `notPrimary` to the primary, and reads go to
the standby, which serves them only once it has applied the cluster's own
writes (read-your-writes), or answers 'behind' at the read's deadline."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from ledger_client import Client, Cluster, LedgerError  # noqa: E402
from helpers import Server  # noqa: E402


class ClusterTests(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix='ledger-py-cluster-')
        self.secrets = {}
        lines = []
        for key, role in (('dev', ''), ('repl', ' role=replication')):
            salt, secret = os.urandom(16), os.urandom(32)
            lines.append('%s %s %s%s' % (key, salt.hex(), hashlib.sha256(salt + secret).hexdigest(), role))
            self.secrets[key] = secret
        self.keys = os.path.join(self.work, 'api-keys')
        with open(self.keys, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.replication_key = os.path.join(self.work, 'repl.key')
        with open(self.replication_key, 'w') as f:
            f.write('repl %s\n' % self.secrets['repl'].hex())
        self.primary = Server(arguments=['--keys-file', self.keys])
        ledgerctl = os.path.join(os.path.dirname(self.primary.path), 'ledgerctl')
        standby_directory = os.path.join(self.work, 'standby')
        os.mkdir(standby_directory)
        subprocess.run([ledgerctl, 'basebackup', '--server', '127.0.0.1:%d' % self.primary.port, '--key-id', 'repl',
                        '--secret', self.secrets['repl'].hex(), '--to', os.path.join(standby_directory, 'data')],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.standby = Server(directory=standby_directory, arguments=[
            '--keys-file', self.keys, '--standby-of', '127.0.0.1:%d' % self.primary.port, '--replication-key-file', self.replication_key])

    def tearDown(self):
        self.assertEqual(self.standby.stop(), 0)
        self.assertEqual(self.primary.stop(), 0)
        shutil.rmtree(self.work, ignore_errors=True)

    def test_writes_follow_not_primary_and_reads_go_to_the_standby(self):
        standby_address, primary_address = '127.0.0.1:%d' % self.standby.port, '127.0.0.1:%d' % self.primary.port
        direct = Client('dev', self.secrets['dev'], port=self.standby.port)
        with self.assertRaises(LedgerError) as refused:
            direct.create_accounts([dict(id=1, ledger=840, code=1)])
        self.assertEqual((refused.exception.status, refused.exception.message), ('notPrimary', primary_address))
        cluster = Cluster([standby_address, primary_address], 'dev', self.secrets['dev'], deadline_s=30)
        self.assertEqual(cluster.create_accounts([dict(id=1, ledger=840, code=1), dict(id=2, ledger=840, code=1)]), ['ok', 'ok'])
        self.assertEqual(cluster.primary, primary_address)
        # Each write is seen by a standby read right after it: no polling.
        for n in range(1, 11):
            self.assertEqual(cluster.submit([dict(id=10 + n, postings=[(1, 5, 'debit'), (2, 5, 'credit')])]), ['ok'])
            accounts = cluster.lookup_accounts([1, 2], target='standby')
            self.assertEqual((accounts[0].debits_posted, accounts[1].credits_posted), (5 * n, 5 * n))
        self.assertEqual(cluster.standby_reads_behind, 0)
        self.assertGreater(cluster.last_write_lsn, 0)
        # An LSN the standby does not have, with no wait: 'behind' at once.
        impatient = Client('dev', self.secrets['dev'], port=self.standby.port, read_wait_ms=0)
        impatient.read_your_writes(cluster.last_write_lsn + 1_000_000)
        started = time.monotonic()
        with self.assertRaises(LedgerError) as behind:
            impatient.lookup_accounts([1])
        self.assertEqual(behind.exception.status, 'behind')
        self.assertIn('the read asked for %d' % (cluster.last_write_lsn + 1_000_000), behind.exception.message)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(impatient.status().last_lsn >= cluster.last_write_lsn, True)   # the connection is still usable
        impatient.close()
        direct.close()
        cluster.close()


if __name__ == '__main__':
    unittest.main()
