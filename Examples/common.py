"""Shared by the examples: a client for the running server, fresh ids, checks.

The server is found through LEDGER_HOST (127.0.0.1), LEDGER_PORT (7380),
LEDGER_KEY_ID (dev) and LEDGER_SECRET (hex; `make run` prints it once).
Ids are drawn at random so a flow can be run again on the same server.
"""
import os
import secrets
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'clients', 'python'))
from ledger_client import Client  # noqa: E402

USD = 840  # ledger: ISO 4217 numeric
WALLET_FLAGS = 1  # debitsMustNotExceedCredits: a wallet never goes negative


def client():
    secret = os.environ.get('LEDGER_SECRET')
    if not secret:
        sys.exit('set LEDGER_SECRET to the hex secret `make run` printed (and LEDGER_PORT if not 7380)')
    return Client(os.environ.get('LEDGER_KEY_ID', 'dev'), bytes.fromhex(secret),
                  host=os.environ.get('LEDGER_HOST', '127.0.0.1'), port=int(os.environ.get('LEDGER_PORT', '7380')))


class Ids:
    """Fresh 128-bit ids: a random 64-bit prefix and a counter."""

    def __init__(self):
        self.prefix = secrets.randbits(63) + 1
        self.n = 0

    def __call__(self):
        self.n += 1
        return self.prefix << 64 | self.n


def transfer(id, debit, credit, amount, **extra):
    return dict(id=id, postings=[(debit, amount, 'debit'), (credit, amount, 'credit')], **extra)


def expect(actual, wanted, what):
    if actual != wanted:
        sys.exit('FAILED: %s: %r, expected %r' % (what, actual, wanted))
    print('  ok: %s = %r' % (what, actual))
