#!/usr/bin/env python3
"""Withdrawals: each locks funds with a hold; a payout batch posts 1,000
holds in one request; the payouts the bank reports failed are voided and
their funds return to the wallets."""
from common import USD, WALLET_FLAGS, Ids, client, expect, transfer

c = client()
ids = Ids()
funding, payouts = ids(), ids()
wallets = [ids() for _ in range(1_000)]
expect(c.create_accounts([dict(id=funding, ledger=USD, code=10), dict(id=payouts, ledger=USD, code=30)]), ['ok', 'ok'], 'system accounts')
expect(set(c.create_accounts([dict(id=w, ledger=USD, code=20, flags=WALLET_FLAGS) for w in wallets])), {'ok'}, '1,000 wallets')
expect(set(c.submit([transfer(ids(), funding, w, 10_000) for w in wallets])), {'ok'}, 'wallets funded with 100.00')

# 1,000 users press "withdraw 40.00": a hold each (debit pending on the wallet).
holds = [ids() for _ in wallets]
expect(set(c.submit([transfer(h, w, payouts, 4_000, kind='pending') for h, w in zip(holds, wallets)])), {'ok'}, '1,000 holds')
expect(c.lookup_accounts([wallets[0]])[0].debits_pending, 4_000, 'funds locked on a wallet')
# A wallet cannot withdraw more than it has left (100.00 - 40.00 held).
expect(c.submit([transfer(ids(), wallets[0], payouts, 6_001, kind='pending')]), ['exceedsCredits'], 'overdrawing hold refused')

# The bank pays 980 and rejects 20: post the 980 at once, void the 20.
failed = set(range(0, 1_000, 50))
posts = [dict(id=ids(), kind='postPending', pending_id=h) for i, h in enumerate(holds) if i not in failed]
voids = [dict(id=ids(), kind='voidPending', pending_id=h) for i, h in enumerate(holds) if i in failed]
expect(set(c.submit(posts)), {'ok'}, '980 holds posted in one request')
expect(set(c.submit(voids)), {'ok'}, '20 failed payouts voided')
# A late duplicate settlement of a voided hold changes nothing.
expect(c.submit([dict(id=ids(), kind='postPending', pending_id=holds[0])]), ['pendingAlreadyVoided'], 'settling a voided hold again')

accounts = c.lookup_accounts(wallets)
expect(sum(a.debits_pending for a in accounts), 0, 'no funds left locked')
expect(sum(a.credits_posted - a.debits_posted for a in accounts), 1_000 * 10_000 - 980 * 4_000, 'wallet balances after payouts')
expect(c.lookup_accounts([payouts])[0].credits_posted, 980 * 4_000, 'paid out')
print('withdrawal payout batch: OK')
