#!/usr/bin/env python3
"""A coupon budget that cannot be overspent, even under a rush: 100
concurrent redemptions of 15.00 against a 1,000.00 budget. The budget
account may not go negative, so exactly 66 succeed and the rest are
refused with 'exceedsCredits'."""
import threading

from common import USD, WALLET_FLAGS, Ids, client, expect, transfer

c = client()
ids = Ids()
marketing, budget, merchant = ids(), ids(), ids()
expect(c.create_accounts([dict(id=marketing, ledger=USD, code=60), dict(id=budget, ledger=USD, code=61, flags=WALLET_FLAGS),
                          dict(id=merchant, ledger=USD, code=40)]), ['ok'] * 3, 'accounts')
expect(c.submit([transfer(ids(), marketing, budget, 100_000)]), ['ok'], 'budget funded with 1,000.00')

results = []
lock = threading.Lock()
redemptions = [ids() for _ in range(100)]


def redeem(entry_id):
    r = c.submit([transfer(entry_id, budget, merchant, 1_500, code=9)])[0]
    with lock:
        results.append(r)


threads = [threading.Thread(target=redeem, args=(r,)) for r in redemptions]
for t in threads:
    t.start()
for t in threads:
    t.join()
expect(results.count('ok'), 66, 'redemptions accepted')
expect(results.count('exceedsCredits'), 34, 'redemptions refused')
b = c.lookup_accounts([budget])[0]
expect(b.credits_posted - b.debits_posted, 100_000 - 66 * 1_500, 'budget left (never negative)')
print('coupon budget: OK')
