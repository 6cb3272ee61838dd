// Swift has no prefetch intrinsic. The state machine prefetches the hash
// bucket of an entry id several events ahead, so the cache miss on the
// (large, randomly accessed) idempotency table overlaps with useful work.
#ifndef LEDGER_PREFETCH_H
#define LEDGER_PREFETCH_H

static inline void ledger_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
