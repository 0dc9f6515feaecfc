# CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of every
# page (invariant 1) and of every WAL record.  C-level contract.
from libc.stdint cimport uint32_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #include <string.h>

    static uint32_t oor_crc_table[8][256];
    static int oor_crc_ready = 0;
    static int oor_crc_hw = 0;
    static void oor_crc_shift_init(void);

    static void oor_crc_init(void) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            oor_crc_table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = oor_crc_table[0][i];
            for (int t = 1; t < 8; t++) {
                c = oor_crc_table[0][c & 0xFF] ^ (c >> 8);
                oor_crc_table[t][i] = c;
            }
        }
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        oor_crc_hw = __builtin_cpu_supports("sse4.2");
    #endif
        oor_crc_shift_init();
        oor_crc_ready = 1;
    }

    /* Portable slice-by-8. */
    static uint32_t oor_crc_sw(uint32_t crc, const unsigned char *p, size_t n) {
        while (n && ((uintptr_t)p & 7)) { crc = oor_crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8); n--; }
        while (n >= 8) {
            uint64_t w; memcpy(&w, p, 8);
            w ^= crc;   /* little-endian hosts; see the big-endian branch below */
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            w = __builtin_bswap64(w ^ crc) ^ crc;  /* undo the xor, swap, redo on the low word */
    #endif
            crc = oor_crc_table[7][w & 0xFF] ^ oor_crc_table[6][(w >> 8) & 0xFF]
                ^ oor_crc_table[5][(w >> 16) & 0xFF] ^ oor_crc_table[4][(w >> 24) & 0xFF]
                ^ oor_crc_table[3][(w >> 32) & 0xFF] ^ oor_crc_table[2][(w >> 40) & 0xFF]
                ^ oor_crc_table[1][(w >> 48) & 0xFF] ^ oor_crc_table[0][(w >> 56) & 0xFF];
            p += 8; n -= 8;
        }
        while (n--) crc = oor_crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /* Three streams at once.  The crc32 instruction has a latency of 3 cycles and a throughput of one
       a cycle, so one chain of it runs at a third of its speed (6.7 GB/s here, 0.6 us a page).  Each
       round takes 3 x OOR_CRC_BLK bytes as three independent chains (A, B, C: A from the running
       value, B and C from 0) and joins them: the register update is linear over GF(2), so
           crc(A|B|C) = shift(crc(A), 2 BLK) ^ shift(crc(B), BLK) ^ crc(C),
       where shift(x, L) is the register after L zero bytes from x -- itself linear in x, so four
       256-entry tables per L give it in four lookups (built once, from the slice-by-8 table, by
       shifting each of the 32 basis bits).  A 4 KiB page is one round (4,080 bytes) and a 16-byte
       tail.  (Intel's "Fast CRC Computation for iSCSI Polynomial Using CRC32 Instruction", 2011,
       describes the method; the tables here replace its carry-less multiply.) */
    #define OOR_CRC_BLK 1360
    static uint32_t oor_crc_shift[2][4][256];      /* [0]: shift by BLK bytes, [1]: by 2 BLK */

    static uint32_t oor_crc_zeros_sw(uint32_t c, size_t nbytes) {
        while (nbytes--) c = oor_crc_table[0][c & 0xFF] ^ (c >> 8);
        return c;
    }

    static void oor_crc_shift_init(void) {
        for (int s = 0; s < 2; s++) {
            uint32_t basis[32];
            for (int b = 0; b < 32; b++) basis[b] = oor_crc_zeros_sw(1u << b, (size_t)OOR_CRC_BLK * (s + 1));
            for (int k = 0; k < 4; k++)
                for (uint32_t v = 0; v < 256; v++) {
                    uint32_t x = 0;
                    for (int b = 0; b < 8; b++) if (v >> b & 1u) x ^= basis[8 * k + b];
                    oor_crc_shift[s][k][v] = x;
                }
        }
    }

    static inline uint32_t oor_crc_shifted(int s, uint32_t x) {
        return oor_crc_shift[s][0][x & 0xFF] ^ oor_crc_shift[s][1][(x >> 8) & 0xFF]
             ^ oor_crc_shift[s][2][(x >> 16) & 0xFF] ^ oor_crc_shift[s][3][x >> 24];
    }

    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __attribute__((target("sse4.2")))
    static uint32_t oor_crc_hw_x86(uint32_t crc, const unsigned char *p, size_t n) {
        uint64_t c = crc;
        while (n && ((uintptr_t)p & 7)) { c = __builtin_ia32_crc32qi((uint32_t)c, *p++); n--; }
        while (n >= 3 * OOR_CRC_BLK) {
            uint64_t a = c, b = 0, d = 0, wa, wb, wd;
            for (size_t i = 0; i < OOR_CRC_BLK; i += 8) {
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + OOR_CRC_BLK + i, 8);
                memcpy(&wd, p + 2 * OOR_CRC_BLK + i, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                d = __builtin_ia32_crc32di(d, wd);
            }
            c = oor_crc_shifted(1, (uint32_t)a) ^ oor_crc_shifted(0, (uint32_t)b) ^ (uint32_t)d;
            p += 3 * OOR_CRC_BLK; n -= 3 * OOR_CRC_BLK;
        }
        while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c = __builtin_ia32_crc32di(c, w); p += 8; n -= 8; }
        while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        return (uint32_t)c;
    }
    #endif

    /* CRC32C of n bytes, continuing from a previous value (0 to start). */
    static uint32_t oor_crc32c(uint32_t prev, const unsigned char *p, size_t n) {
        if (!oor_crc_ready) oor_crc_init();
        uint32_t crc = ~prev;
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (oor_crc_hw) return ~oor_crc_hw_x86(crc, p, n);
    #endif
        return ~oor_crc_sw(crc, p, n);
    }
    static inline uint32_t oor_crc32c_sw(uint32_t prev, const unsigned char *p, size_t n) {
        if (!oor_crc_ready) oor_crc_init();
        return ~oor_crc_sw(~prev, p, n);
    }
    static inline int oor_crc32c_hw_available(void) { if (!oor_crc_ready) oor_crc_init(); return oor_crc_hw; }
    """
    uint32_t oor_crc32c(uint32_t prev, const unsigned char* p, size_t n) nogil
    uint32_t oor_crc32c_sw(uint32_t prev, const unsigned char* p, size_t n) nogil
    int oor_crc32c_hw_available() nogil
