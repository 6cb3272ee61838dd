"""The shared vectors in Specs/vectors decoded and re-encoded byte for byte,
so this client stays byte-compatible with the Swift and Node ones."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from ledger_client import protocol as p  # noqa: E402
from helpers import read_vector, read_vector_text  # noqa: E402

SECRET = bytes(range(32))
T = 1_700_000_000_000_000_000
ENTRY = dict(id=1001, code=1, postings=[(1, 2500, 'debit'), (2, 2500, 'credit')], metadata=b'gw:ch_42')


class VectorTests(unittest.TestCase):
    def roundtrip(self, name, operation, request_id, body, status=0, version=1):
        frame = read_vector(name)
        self.assertEqual(p.decode_frame(frame), (operation, request_id, status, body))
        self.assertEqual(p.header_version(frame[:32]), version)
        self.assertEqual(p.encode_frame(operation, request_id, body, status, version=version), frame)
        return frame

    def test_version_2(self):
        hello = p.encode_hello('dev', SECRET, (1, 2))
        self.roundtrip('protocol-v2-hello.hex', 1, 1, hello)
        reply = self.roundtrip('protocol-v2-results.hex', 3, 2, p.encode_committed_results(['ok'], 4242), version=2)
        self.assertEqual(p.decode_committed_results(p.decode_frame(reply)[3], 1), (['ok'], 4242))
        with self.assertRaises(p.ProtocolError):
            p.decode_results(p.decode_frame(reply)[3], 1)   # a version 1 reader refuses it
        body = p.encode_read_prefix(4242, 5000) + p.encode_ids([1, 2])
        self.roundtrip('protocol-v2-lookup-accounts.hex', 4, 4, body, version=2)
        self.assertEqual(p.split_read_prefix(body), (4242, 5000, p.encode_ids([1, 2])))
        with self.assertRaises(p.ProtocolError):
            p.split_read_prefix(body[:12] + b'\x01' + body[13:])
        with self.assertRaises(ValueError):
            p.encode_read_prefix(1, p.READ_WAIT_MS_MAX + 1)
        self.roundtrip('protocol-v2-behind.hex', 4, 4, b'applied LSN 4000 < 4242', status=p.STATUSES.index('behind'), version=2)

    def test_events(self):
        self.assertEqual(p.entry_event(**ENTRY), read_vector('event-entry-posted.hex'))
        entry, size = p.decode_entry_event(read_vector('event-entry-posted.hex'))
        self.assertEqual((entry.id, entry.postings, entry.metadata, size), (1001, ENTRY['postings'], b'gw:ch_42', 152))
        self.assertEqual(p.account_event(id=2, ledger=840, code=1, flags=1), read_vector('event-create-account.hex'))
        self.assertEqual(p.close_account_event(2), read_vector('event-close-account.hex'))

    def test_hello(self):
        body = p.encode_hello('dev', SECRET)
        self.roundtrip('protocol-hello.hex', 1, 1, body)
        self.assertEqual(p.decode_hello(body), {'versions': (1, 1), 'key_id': 'dev', 'secret': SECRET})

    def test_submit_and_results(self):
        body = p.encode_batch([p.entry_event(**ENTRY)])
        self.roundtrip('protocol-submit.hex', 3, 2, body)
        count, events = p.decode_batch(body)
        self.assertEqual((count, events), (1, read_vector('event-entry-posted.hex')))
        reply = self.roundtrip('protocol-results.hex', 3, 2, p.encode_results(['ok']))
        self.assertEqual(p.decode_results(p.decode_frame(reply)[3], 1), ['ok'])

    def test_busy(self):
        self.roundtrip('protocol-busy.hex', 3, 3, b'queue full', status=p.STATUSES.index('busy'))

    def test_queries(self):
        self.roundtrip('protocol-lookup-accounts.hex', 4, 4, p.encode_ids([1, 2]))
        self.assertEqual(p.decode_ids(p.encode_ids([1, 2])), [1, 2])
        self.roundtrip('protocol-history-query.hex', 6, 5, p.encode_history_query(2, from_ns=T, limit=100))
        self.roundtrip('protocol-balance-query.hex', 7, 6, p.encode_balance_query(2, T))

    def test_replication(self):
        chain = bytes.fromhex(read_vector_text('wal-chain-1.txt'))
        self.roundtrip('replication-replicate.hex', 9, 7, p.encode_replicate(bytes(range(0xf0, 0x100)), 1, 1, chain))
        expected = [
            ('replication-wal-file.hex', p.WalFile(header=read_vector('wal-file-header.hex'))),
            ('replication-wal-records.hex', p.WalRecords(first_lsn=1, offset=4096, records=read_vector('wal-record-group.hex'))),
            ('replication-heartbeat.hex', p.Heartbeat(durable_lsn=1, clock_ns=T, reply_requested=True)),
        ]
        for name, message in expected:
            body = p.decode_frame(read_vector(name))[3]
            self.assertEqual(p.decode_replication_message(body), message)
            self.roundtrip(name, 9, 7, p.encode_replication_message(message))
        self.roundtrip('replication-standby-status.hex', 10, 7, p.encode_standby_status(1, 1, T + 1))
        for name, backup in [
            ('replication-backup-start.hex', p.BackupStart(image_bytes=123_456, file_count=5)),
            ('replication-backup-file.hex', p.BackupFile(name='segments/2026-11.seg', copy_bytes=4_160, total_bytes=4_160)),
            ('replication-backup-data.hex', p.BackupData(offset=4_096, data=bytes(range(64)))),
            ('replication-backup-end.hex', p.BackupEnd(snapshot_lsn=2, last_lsn=41)),
        ]:
            body = p.decode_frame(read_vector(name))[3]
            self.assertEqual(p.decode_replication_message(body), backup)
            self.roundtrip(name, 11, 7, p.encode_replication_message(backup))

    def test_every_flipped_byte_is_refused(self):
        frame = read_vector('protocol-submit.hex')
        for i in range(len(frame)):
            damaged = bytearray(frame)
            damaged[i] ^= 0x01
            with self.assertRaises(p.ProtocolError, msg='byte %d' % i):
                p.decode_frame(bytes(damaged))


if __name__ == '__main__':
    unittest.main()
