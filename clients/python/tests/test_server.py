"""The Python client against a real LedgerServer: every operation, pipelined
calls from many threads, idempotent retries, refusals, deadlines."""
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from ledger_client import AsyncClient, Client, ConnectionRefused, DeadlineExceeded, LedgerError  # noqa: E402
from helpers import AsyncAdapter, Server  # noqa: E402


def usd(id, flags=0):
    return dict(id=id, ledger=840, code=1, flags=flags)


def transfer(id, debit, credit, amount, **extra):
    return dict(id=id, postings=[(debit, amount, 'debit'), (credit, amount, 'credit')], **extra)


def large_frames_from_64_threads(test, c, first_id):
    # Frames of ~70 KiB: a send that is not atomic per frame interleaves
    # them on the shared socket (the server then sees a malformed frame
    # and drops the connection, which shows up as retries).
    test.assertEqual(c.create_accounts([usd(71), usd(72)]), ['ok', 'ok'])
    before = c.lookup_accounts([71])[0].debits_posted
    retries_before = c.retries
    errors = []
    results = []
    lock = threading.Lock()

    def worker(t):
        try:
            for k in range(3):
                base = first_id + (t * 3 + k) * 64
                batch = [transfer(base + i, 71, 72, 1, metadata=bytes([t]) * 1000) for i in range(64)]
                r = c.submit(batch)
                with lock:
                    results.extend(r)
        except Exception as e:   # noqa: BLE001 (reported below)
            with lock:
                errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    test.assertEqual(errors, [])
    test.assertEqual(results, ['ok'] * (64 * 3 * 64))
    test.assertEqual(c.retries - retries_before, 0, 'frames were interleaved: the connection was dropped and calls retried')
    test.assertEqual(c.lookup_accounts([71])[0].debits_posted, before + 64 * 3 * 64)


class ServerTests(unittest.TestCase):
    @staticmethod
    def make_client(*args, **kwargs):
        return Client(*args, **kwargs)

    def test_64_threads_share_one_connection_with_large_frames(self):
        server = Server()   # its own: other tests count accounts and balances
        try:
            c = self.make_client('dev', server.secret, port=server.port)
            large_frames_from_64_threads(self, c, first_id=500_000)
            c.close()
        finally:
            self.assertEqual(server.stop(), 0)

    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.client = cls.make_client('dev', cls.server.secret, port=cls.server.port)
        assert cls.client.create_accounts([usd(1), usd(2), usd(3, flags=1)]) == ['ok', 'ok', 'ok']

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        assert cls.server.stop() == 0

    def test_every_operation(self):
        c = self.client
        self.assertEqual(c.submit([transfer(100, 1, 2, 250, metadata=b'order-9'), transfer(101, 1, 2, 50)]), ['ok', 'ok'])
        self.assertEqual(c.submit([transfer(100, 1, 2, 250, metadata=b'order-9')]), ['exists'])
        self.assertEqual(c.submit([transfer(100, 1, 2, 999)]), ['existsWithDifferentFields'])
        accounts = c.lookup_accounts([1, 2, 404])
        self.assertIsNone(accounts[2])
        self.assertGreaterEqual(accounts[0].debits_posted, 300)
        entries = c.lookup_entries([100, 404])
        self.assertEqual((entries[0].id, entries[0].metadata, entries[0].postings[0]), (100, b'order-9', (1, 250, 'debit')))
        self.assertIsNone(entries[1])
        page = c.history(2, limit=1)
        self.assertEqual(len(page.items), 1)
        self.assertIsNotNone(page.next_cursor)
        rest = c.history(2, after=page.next_cursor, limit=1000)
        first = page.items[0]
        self.assertEqual(first.credits_posted_change, first.credits_posted)
        as_of = c.balance_as_of(2, first.timestamp)
        self.assertEqual(as_of.credits_posted, first.credits_posted)
        total = sum(i.credits_posted_change for i in page.items + rest.items)
        self.assertEqual(total, c.lookup_accounts([2])[0].credits_posted)
        status = c.status()
        self.assertEqual(status.accounts, 3)
        self.assertGreaterEqual(status.last_lsn, 1)

    def test_result_codes_and_holds(self):
        c = self.client
        # Account 3 may not go negative: an overdraft is refused per event.
        self.assertEqual(c.submit([transfer(200, 3, 1, 5)]), ['exceedsCredits'])
        self.assertEqual(c.submit([transfer(201, 1, 1, 0)]), ['amountMustNotBeZero'])
        self.assertEqual(c.submit([transfer(202, 1, 99, 5)]), ['accountNotFound'])
        self.assertEqual(c.submit([dict(id=203, postings=[(1, 5, 'debit'), (2, 4, 'credit')])]), ['unbalanced'])
        # A hold, partially posted, then a second settlement is refused.
        self.assertEqual(c.submit([transfer(210, 2, 1, 40, kind='pending')]), ['ok'])
        self.assertEqual(c.lookup_accounts([2])[0].debits_pending, 40)
        self.assertEqual(c.submit([dict(id=211, kind='postPending', pending_id=210, postings=[(2, 30, 'debit'), (1, 30, 'credit')])]), ['ok'])
        self.assertEqual(c.submit([dict(id=212, kind='voidPending', pending_id=210)]), ['pendingAlreadyPosted'])
        self.assertEqual(c.lookup_accounts([2])[0].debits_pending, 0)

    def test_refusals(self):
        with self.assertRaises(LedgerError) as caught:
            self.client._call('balanceAsOf', b'\x01\x02')
        self.assertEqual(caught.exception.status, 'malformedBody')
        wrong = self.make_client('dev', bytes(32), port=self.server.port, deadline_s=2)
        with self.assertRaises(LedgerError) as caught:
            wrong.status()
        self.assertEqual(caught.exception.status, 'unauthenticated')
        # The connection that got malformedBody is still served.
        self.assertEqual(self.client.status().accounts, 3)

    def test_pipelined_threads(self):
        c = self.client
        before = c.lookup_accounts([1])[0].debits_posted
        results = []
        lock = threading.Lock()

        def worker(t):
            for k in range(25):
                r = c.submit([transfer(10_000 + t * 100 + k, 1, 2, 1)])
                with lock:
                    results.extend(r)
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, ['ok'] * 400)
        self.assertEqual(c.lookup_accounts([1])[0].debits_posted, before + 400)

    def test_closed_port_is_reported_at_once_as_connection_refused(self):
        lonely = self.make_client('dev', bytes(32), port=1, deadline_s=10)
        started = time.monotonic()
        with self.assertRaises(ConnectionRefused):
            lonely.status()
        self.assertLess(time.monotonic() - started, 2)


class RestartTests(unittest.TestCase):
    make_client = staticmethod(Client)

    def test_retry_across_a_restart_applies_once(self):
        first = Server()
        c = self.make_client('dev', first.secret, port=first.port, deadline_s=30)
        self.assertEqual(c.create_accounts([usd(1), usd(2)]), ['ok', 'ok'])
        self.assertEqual(c.submit([transfer(7, 1, 2, 5)]), ['ok'])
        first.kill()
        results = []
        t = threading.Thread(target=lambda: results.append(c.submit([transfer(7, 1, 2, 5), transfer(8, 1, 2, 5)])))
        t.start()
        time.sleep(0.3)
        second = Server(directory=first.directory, port=first.port)
        t.join()
        self.assertEqual(results, [['exists', 'ok']])
        self.assertGreater(c.retries, 0)
        self.assertEqual(c.lookup_accounts([1])[0].debits_posted, 10)
        c.close()
        second.owns_directory = True
        self.assertEqual(second.stop(), 0)


class TLSTests(unittest.TestCase):
    make_client = staticmethod(Client)

    def test_tls_with_trusted_roots_only(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
                            '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                           check=True, capture_output=True)
            server = Server(arguments=('--tls-certificate', cert, '--tls-private-key', key))
            try:
                c = self.make_client('dev', server.secret, port=server.port, tls_ca_file=cert, tls_server_name='localhost')
                self.assertEqual(c.create_accounts([usd(1)]), ['ok'])
                self.assertEqual(c.status().accounts, 1)
                large_frames_from_64_threads(self, c, first_id=700_000)
                c.close()
                with self.assertRaises(DeadlineExceeded):
                    self.make_client('dev', server.secret, port=server.port, deadline_s=1).status()   # plain TCP
                with self.assertRaises(ssl.SSLCertVerificationError):
                    self.make_client('dev', server.secret, port=server.port, tls=True, tls_server_name='localhost', deadline_s=2).status()
            finally:
                self.assertEqual(server.stop(), 0)



def async_client(*args, **kwargs):
    return AsyncAdapter(AsyncClient(*args, **kwargs))


# The same tests on the asyncio client (AsyncClient behind AsyncAdapter).
class AsyncServerTests(ServerTests):
    make_client = staticmethod(async_client)


class AsyncRestartTests(RestartTests):
    make_client = staticmethod(async_client)


class AsyncTLSTests(TLSTests):
    make_client = staticmethod(async_client)


if __name__ == '__main__':
    unittest.main()
