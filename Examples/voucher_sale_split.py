#!/usr/bin/env python3
"""A marketplace voucher sale split into the merchant's share and the
platform's commission, in one entry of three postings (balanced: the
customer's 50.00 = 46.50 merchant + 3.50 commission)."""
from common import USD, WALLET_FLAGS, Ids, client, expect, transfer

c = client()
ids = Ids()
funding, customer, merchant, commission = ids(), ids(), ids(), ids()
expect(c.create_accounts([dict(id=funding, ledger=USD, code=10), dict(id=customer, ledger=USD, code=20, flags=WALLET_FLAGS),
                          dict(id=merchant, ledger=USD, code=40), dict(id=commission, ledger=USD, code=50)]),
       ['ok'] * 4, 'accounts')
expect(c.submit([transfer(ids(), funding, customer, 5_000)]), ['ok'], 'customer wallet funded with 50.00')

sale = dict(id=ids(), code=7, metadata=b'order:V-1001', postings=[
    (customer, 5_000, 'debit'), (merchant, 4_650, 'credit'), (commission, 350, 'credit')])
expect(c.submit([sale]), ['ok'], 'sale split posted')
# A split that does not add up is refused whole.
bad = dict(id=ids(), postings=[(customer, 1, 'debit'), (merchant, 1, 'credit'), (commission, 1, 'credit')])
expect(c.submit([bad]), ['unbalanced'], 'an unbalanced split')
# The customer cannot buy a second voucher with an empty wallet.
expect(c.submit([dict(sale, id=ids())]), ['exceedsCredits'], 'a second sale without funds')

cust, merch, comm = c.lookup_accounts([customer, merchant, commission])
expect(cust.credits_posted - cust.debits_posted, 0, 'customer balance')
expect(merch.credits_posted, 4_650, 'merchant share')
expect(comm.credits_posted, 350, 'commission')
print('voucher sale split: OK')
