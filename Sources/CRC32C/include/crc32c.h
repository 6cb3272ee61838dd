// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78).
// See Specs/wal-format.md for where it is used and how stored values are masked.
#ifndef LEDGER_CRC32C_H
#define LEDGER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Extends `crc` (the value returned by a previous call, or 0 to start) over
/// `length` bytes. Uses the SSE4.2 crc32 instruction when the CPU has it and a
/// table otherwise; both give identical results.
uint32_t ledger_crc32c_extend(uint32_t crc, const void *bytes, size_t length);

/// The portable table implementation, exposed so tests can check that both
/// paths agree on the same inputs.
uint32_t ledger_crc32c_extend_software(uint32_t crc, const void *bytes, size_t length);

/// 1 when the hardware path is selected on this CPU, 0 otherwise.
int ledger_crc32c_uses_hardware(void);

#ifdef __cplusplus
}
#endif

#endif
