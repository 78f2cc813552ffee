/* memcpy, memmove, memset, memcmp and bcmp for the interpreter executable.
 *
 * musl's are short and general: on x86_64 memcpy is `rep movsq` plus byte
 * loops, memcmp a byte loop, an overlapping memmove `std; rep movsb`. At the
 * sizes CPython passes (a few bytes to a few hundred: unicode writers,
 * substrings, pickle's output buffer, dict key comparisons) they take ten
 * times as long as glibc's. These use the usual small-size technique: a copy
 * of n bytes is done by two (or four) possibly overlapping fixed-size
 * chunks, so there is no byte loop and no branch on alignment; longer copies
 * move 64 bytes per iteration.
 *
 * Linked into bin/python3.X, which exports its symbols (-export-dynamic):
 * every library loaded after it (SQLite, OpenSSL, extension modules) binds
 * to these, while musl's own calls stay inside libc.
 *
 * The chunks are GCC/clang vector types with alignment 1, so each becomes
 * one unaligned load or store where the target has them (SSE2, NEON) and is
 * split into smaller accesses by the compiler where it does not. The file
 * includes no libc header and must not call what it defines: GCC turns
 * copy loops into memcpy calls unless told not to (below); the object is
 * compiled with -ffreestanding, and the tests check that it calls nothing.
 */
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

typedef uint8_t chunk16 __attribute__((vector_size(16), aligned(1), may_alias));
typedef uint64_t unaligned64 __attribute__((aligned(1), may_alias));
typedef uint32_t unaligned32 __attribute__((aligned(1), may_alias));
typedef uint16_t unaligned16 __attribute__((aligned(1), may_alias));

#if defined(__x86_64__)
/* From a few KiB up, the CPU's string instructions beat a vector loop (fast
 * `rep movsb`/`rep stosb`, ERMS: whole cache lines, no read of the
 * destination); below, their start-up cost dominates. musl uses `rep movsq`
 * at every size, so large copies were its one strength. */
#define STRING_INSTRUCTIONS_FROM 2048
static inline void rep_movsb(unsigned char *d, const unsigned char *s, size_t n)
{
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static inline void rep_stosb(unsigned char *d, unsigned char byte, size_t n)
{
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(byte) : "memory");
}
#endif

#define LOAD(type, p) (*(const type *)(const void *)(p))
#define STORE(type, p, v) (*(type *)(void *)(p) = (v))

/* n <= 64, loads before stores: right for overlapping buffers too. */
static inline void copy_upto64(unsigned char *d, const unsigned char *s, size_t n)
{
    if (n >= 32) {
        chunk16 a = LOAD(chunk16, s), b = LOAD(chunk16, s + 16);
        chunk16 c = LOAD(chunk16, s + n - 32), e = LOAD(chunk16, s + n - 16);
        STORE(chunk16, d, a); STORE(chunk16, d + 16, b);
        STORE(chunk16, d + n - 32, c); STORE(chunk16, d + n - 16, e);
    } else if (n >= 16) {
        chunk16 a = LOAD(chunk16, s), b = LOAD(chunk16, s + n - 16);
        STORE(chunk16, d, a); STORE(chunk16, d + n - 16, b);
    } else if (n >= 8) {
        uint64_t a = LOAD(unaligned64, s), b = LOAD(unaligned64, s + n - 8);
        STORE(unaligned64, d, a); STORE(unaligned64, d + n - 8, b);
    } else if (n >= 4) {
        uint32_t a = LOAD(unaligned32, s), b = LOAD(unaligned32, s + n - 4);
        STORE(unaligned32, d, a); STORE(unaligned32, d + n - 4, b);
    } else if (n >= 2) {
        uint16_t a = LOAD(unaligned16, s), b = LOAD(unaligned16, s + n - 2);
        STORE(unaligned16, d, a); STORE(unaligned16, d + n - 2, b);
    } else if (n == 1) {
        *d = *s;
    }
}

/* n > 64, upwards, 64 bytes a step. The last 64 bytes are one overlapping
 * window, read before the loop: it needs no tail, and where dest lies below
 * src in the same buffer the loop cannot have written over them yet. */
static inline void copy_upwards(unsigned char *d, const unsigned char *s, size_t n)
{
#ifdef STRING_INSTRUCTIONS_FROM
    /* Ascending byte order by definition, so right where dest lies below src too. */
    if (n >= STRING_INSTRUCTIONS_FROM) {
        rep_movsb(d, s, n);
        return;
    }
#endif
    chunk16 t0 = LOAD(chunk16, s + n - 64), t1 = LOAD(chunk16, s + n - 48);
    chunk16 t2 = LOAD(chunk16, s + n - 32), t3 = LOAD(chunk16, s + n - 16);
    for (size_t i = 0; i < n - 64; i += 64) {
        chunk16 a = LOAD(chunk16, s + i), b = LOAD(chunk16, s + i + 16);
        chunk16 c = LOAD(chunk16, s + i + 32), e = LOAD(chunk16, s + i + 48);
        STORE(chunk16, d + i, a); STORE(chunk16, d + i + 16, b);
        STORE(chunk16, d + i + 32, c); STORE(chunk16, d + i + 48, e);
    }
    STORE(chunk16, d + n - 64, t0); STORE(chunk16, d + n - 48, t1);
    STORE(chunk16, d + n - 32, t2); STORE(chunk16, d + n - 16, t3);
}

void *memcpy(void *restrict dest, const void *restrict src, size_t n)
{
    unsigned char *d = dest;
    const unsigned char *s = src;
    if (n <= 64) {
        copy_upto64(d, s, n);
        return dest;
    }
    copy_upwards(d, s, n);
    return dest;
}

void *memmove(void *dest, const void *src, size_t n)
{
    unsigned char *d = dest;
    const unsigned char *s = src;
    if (n <= 64) {
        copy_upto64(d, s, n);
        return dest;
    }
    if (d == s)
        return dest;
    if ((uintptr_t)d - (uintptr_t)s >= n) {
        /* dest is below src, or past its end: copying upwards reads each
         * byte before anything is written over it. */
        copy_upwards(d, s, n);
    } else {
        /* dest overlaps the end of src: copy downwards, the first 64 bytes
         * read first for the same reason. */
        chunk16 h0 = LOAD(chunk16, s), h1 = LOAD(chunk16, s + 16);
        chunk16 h2 = LOAD(chunk16, s + 32), h3 = LOAD(chunk16, s + 48);
        for (size_t i = n; i > 64; i -= 64) {
            chunk16 a = LOAD(chunk16, s + i - 64), b = LOAD(chunk16, s + i - 48);
            chunk16 c = LOAD(chunk16, s + i - 32), e = LOAD(chunk16, s + i - 16);
            STORE(chunk16, d + i - 64, a); STORE(chunk16, d + i - 48, b);
            STORE(chunk16, d + i - 32, c); STORE(chunk16, d + i - 16, e);
        }
        STORE(chunk16, d, h0); STORE(chunk16, d + 16, h1);
        STORE(chunk16, d + 32, h2); STORE(chunk16, d + 48, h3);
    }
    return dest;
}

void *memset(void *dest, int c, size_t n)
{
    unsigned char *d = dest;
    uint8_t byte = (uint8_t)c;
    uint64_t word = 0x0101010101010101ull * byte;
    chunk16 block = (chunk16){0} + byte;
#ifdef STRING_INSTRUCTIONS_FROM
    if (n >= STRING_INSTRUCTIONS_FROM) {
        rep_stosb(d, byte, n);
        return dest;
    }
#endif
    if (n >= 64) {
        for (size_t i = 0; i < n - 64; i += 64) {
            STORE(chunk16, d + i, block); STORE(chunk16, d + i + 16, block);
            STORE(chunk16, d + i + 32, block); STORE(chunk16, d + i + 48, block);
        }
        n -= 64, d += n, n = 64;  /* one last, overlapping, 64-byte window */
    }
    if (n >= 32) {
        STORE(chunk16, d, block); STORE(chunk16, d + 16, block);
        STORE(chunk16, d + n - 32, block); STORE(chunk16, d + n - 16, block);
    } else if (n >= 16) {
        STORE(chunk16, d, block); STORE(chunk16, d + n - 16, block);
    } else if (n >= 8) {
        STORE(unaligned64, d, word); STORE(unaligned64, d + n - 8, word);
    } else if (n >= 4) {
        STORE(unaligned32, d, (uint32_t)word); STORE(unaligned32, d + n - 4, (uint32_t)word);
    } else if (n >= 2) {
        STORE(unaligned16, d, (uint16_t)word); STORE(unaligned16, d + n - 2, (uint16_t)word);
    } else if (n == 1) {
        *d = byte;
    }
    return dest;
}

/* Which of two differing words comes first in memory order. */
static inline int order64(uint64_t a, uint64_t b)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    a = __builtin_bswap64(a);
    b = __builtin_bswap64(b);
#endif
    return a < b ? -1 : 1;
}

static inline int order32(uint32_t a, uint32_t b)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    a = __builtin_bswap32(a);
    b = __builtin_bswap32(b);
#endif
    return a < b ? -1 : 1;
}

/* Each size class compares its first word, then its last word, which may
 * overlap the one before: the bytes they share were equal, so the last
 * word's first difference is the buffers' first difference. */
int memcmp(const void *left, const void *right, size_t n)
{
    const unsigned char *l = left, *r = right;
    if (n >= 8) {
        for (size_t i = 0; i < n - 8; i += 8) {
            uint64_t a = LOAD(unaligned64, l + i), b = LOAD(unaligned64, r + i);
            if (a != b)
                return order64(a, b);
        }
        uint64_t a = LOAD(unaligned64, l + n - 8), b = LOAD(unaligned64, r + n - 8);
        return a == b ? 0 : order64(a, b);
    }
    if (n >= 4) {
        uint32_t a = LOAD(unaligned32, l), b = LOAD(unaligned32, r);
        if (a != b)
            return order32(a, b);
        a = LOAD(unaligned32, l + n - 4), b = LOAD(unaligned32, r + n - 4);
        return a == b ? 0 : order32(a, b);
    }
    for (size_t i = 0; i < n; i++)
        if (l[i] != r[i])
            return l[i] - r[i];
    return 0;
}

/* Only equality is asked for: no byte order to work out, 16 bytes a step. */
int bcmp(const void *left, const void *right, size_t n)
{
    const unsigned char *l = left, *r = right;
    uint64_t differ = 0;
    if (n >= 16) {
        for (size_t i = 0; i < n - 16 && !differ; i += 16)
            differ = (LOAD(unaligned64, l + i) ^ LOAD(unaligned64, r + i)) |
                     (LOAD(unaligned64, l + i + 8) ^ LOAD(unaligned64, r + i + 8));
        differ |= (LOAD(unaligned64, l + n - 16) ^ LOAD(unaligned64, r + n - 16)) |
                  (LOAD(unaligned64, l + n - 8) ^ LOAD(unaligned64, r + n - 8));
    } else if (n >= 8) {
        differ = (LOAD(unaligned64, l) ^ LOAD(unaligned64, r)) |
                 (LOAD(unaligned64, l + n - 8) ^ LOAD(unaligned64, r + n - 8));
    } else if (n >= 4) {
        differ = (LOAD(unaligned32, l) ^ LOAD(unaligned32, r)) |
                 (LOAD(unaligned32, l + n - 4) ^ LOAD(unaligned32, r + n - 4));
    } else {
        for (size_t i = 0; i < n; i++)
            differ |= l[i] ^ r[i];
    }
    return differ != 0;
}
