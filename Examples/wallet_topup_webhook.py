#!/usr/bin/env python3
"""Wallet top-up from a payment gateway webhook delivered three times.

The gateway retries its webhook (timeouts, 5xx): the same charge arrives
three times. The entry id is derived from the gateway's charge id, so the
ledger credits the wallet exactly once; the repeats answer 'exists'.
"""
import hashlib

from common import USD, WALLET_FLAGS, Ids, client, expect, transfer

c = client()
ids = Ids()
gateway, wallet = ids(), ids()
# The gateway clearing account may go either way; the wallet never negative.
expect(c.create_accounts([dict(id=gateway, ledger=USD, code=10), dict(id=wallet, ledger=USD, code=20, flags=WALLET_FLAGS)]),
       ['ok', 'ok'], 'accounts created')

charge_id = 'ch_%x' % ids()
entry_id = int.from_bytes(hashlib.sha256(charge_id.encode()).digest()[:16], 'little')  # idempotency key from the charge
webhook = transfer(entry_id, gateway, wallet, 2_500, code=1, metadata=charge_id.encode())

deliveries = [c.submit([webhook])[0] for _ in range(3)]
expect(deliveries, ['ok', 'exists', 'exists'], 'three deliveries of one webhook')
expect(c.lookup_accounts([wallet])[0].credits_posted, 2_500, 'wallet credited once (minor units)')
expect(c.lookup_entries([entry_id])[0].metadata, charge_id.encode(), 'the charge id kept with the entry')
print('wallet top-up: OK')
