#!/usr/bin/env python3
"""A payout's state machine with retries: requested (a hold) -> sent ->
settled or failed, where every transition is an entry with its own id, so
the worker can retry any step after a timeout without doing it twice. A
payout the bank never confirms expires: its hold times out and releases."""
import time

from common import USD, WALLET_FLAGS, Ids, client, expect, transfer

c = client()
ids = Ids()
funding, wallet, payouts = ids(), ids(), ids()
expect(c.create_accounts([dict(id=funding, ledger=USD, code=10), dict(id=wallet, ledger=USD, code=20, flags=WALLET_FLAGS),
                          dict(id=payouts, ledger=USD, code=30)]), ['ok'] * 3, 'accounts')
expect(c.submit([transfer(ids(), funding, wallet, 30_000)]), ['ok'], 'wallet funded with 300.00')

# Payout A: requested, sent, the bank's answer times out, the worker retries
# the settlement with the same id: applied once.
hold_a, settle_a = ids(), ids()
expect(c.submit([transfer(hold_a, wallet, payouts, 10_000, kind='pending')]), ['ok'], 'A requested (hold)')
expect(c.submit([dict(id=settle_a, kind='postPending', pending_id=hold_a)]), ['ok'], 'A settled')
expect(c.submit([dict(id=settle_a, kind='postPending', pending_id=hold_a)]), ['exists'], 'A settlement retried after a timeout')

# Payout B: the bank rejects it; the void is retried too.
hold_b, void_b = ids(), ids()
expect(c.submit([transfer(hold_b, wallet, payouts, 5_000, kind='pending')]), ['ok'], 'B requested (hold)')
expect(c.submit([dict(id=void_b, kind='voidPending', pending_id=hold_b)]), ['ok'], 'B failed (void)')
expect(c.submit([dict(id=void_b, kind='voidPending', pending_id=hold_b)]), ['exists'], 'B void retried')
expect(c.submit([dict(id=ids(), kind='postPending', pending_id=hold_b)]), ['pendingAlreadyVoided'], 'B cannot be settled after failing')

# Payout C: a hold with a 1-second timeout that nobody settles: it expires.
hold_c = ids()
expect(c.submit([transfer(hold_c, wallet, payouts, 7_000, kind='pending', timeout_seconds=1)]), ['ok'], 'C requested (1 s hold)')
time.sleep(1.5)
expect(c.submit([dict(id=ids(), kind='postPending', pending_id=hold_c)]), ['pendingExpired'], 'C settled too late')

w, p = c.lookup_accounts([wallet, payouts])
expect(w.debits_pending, 0, 'nothing left locked')
expect(w.credits_posted - w.debits_posted, 20_000, 'wallet after A paid, B failed, C expired')
expect(p.credits_posted, 10_000, 'paid out')
print('payout state machine: OK')
