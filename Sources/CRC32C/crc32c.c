// CRC32C with run-time dispatch between the SSE4.2 instruction and a table.
// The hardware path processes 8 bytes per instruction; the table path one
// byte per step. Both must agree bit for bit (checked by CRC32CTests).
#include "crc32c.h"

#include <string.h>
#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define LEDGER_CRC32C_X86 1
#endif

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static int crc32c_hardware = 0;

static void crc32c_initialize(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; bit++) {
            value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : (value >> 1);
        }
        crc32c_table[index] = value;
    }
#ifdef LEDGER_CRC32C_X86
    __builtin_cpu_init();
    crc32c_hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

uint32_t ledger_crc32c_extend_software(uint32_t crc, const void *bytes, size_t length) {
    pthread_once(&crc32c_once, crc32c_initialize);
    const uint8_t *p = (const uint8_t *)bytes;
    uint32_t value = ~crc;
    for (size_t i = 0; i < length; i++) {
        value = crc32c_table[(value ^ p[i]) & 0xFF] ^ (value >> 8);
    }
    return ~value;
}

#ifdef LEDGER_CRC32C_X86
__attribute__((target("sse4.2")))
static uint32_t crc32c_extend_hardware(uint32_t crc, const void *bytes, size_t length) {
    const uint8_t *p = (const uint8_t *)bytes;
    uint64_t value = (uint32_t)~crc;
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        value = _mm_crc32_u8((uint32_t)value, *p++);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        value = _mm_crc32_u64(value, word);
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        value = _mm_crc32_u8((uint32_t)value, *p++);
        length--;
    }
    return ~(uint32_t)value;
}
#endif

uint32_t ledger_crc32c_extend(uint32_t crc, const void *bytes, size_t length) {
    pthread_once(&crc32c_once, crc32c_initialize);
#ifdef LEDGER_CRC32C_X86
    if (crc32c_hardware) {
        return crc32c_extend_hardware(crc, bytes, length);
    }
#endif
    return ledger_crc32c_extend_software(crc, bytes, length);
}

int ledger_crc32c_uses_hardware(void) {
    pthread_once(&crc32c_once, crc32c_initialize);
    return crc32c_hardware;
}
