/* The C library's malloc family for the interpreter executable, served by
 * mimalloc instead of musl's mallocng: the one CPython 3.13 and later
 * compile into libpython (Objects/mimalloc, pinned by CPython's own
 * source), or for 3.9 to 3.12, which carry none, the same copy built as a
 * dependency and linked into the executable beside this object
 * (recipes/deps/mimalloc.toml).
 *
 * musl supports replacing malloc: when the main program defines malloc,
 * calloc, realloc and free (and, for the aligned and size-query functions to
 * work, aligned_alloc and malloc_usable_size), its dynamic linker binds every
 * library's calls to them, libc's own internal ones included, and keeps its
 * private allocations to itself. The functions below are exported from
 * bin/python3.X (-export-dynamic), so OpenSSL, SQLite, extension modules
 * and musl's strdup or getaddrinfo all allocate from mimalloc. A program
 * that embeds libpython keeps musl's malloc: only the executable has these.
 *
 * CPython's modifications to its mimalloc (QSBR for the free-threaded
 * build) apply to the heaps of its own thread states, never to mimalloc's
 * default heap, which is the one these use. pymalloc still serves small
 * Python objects and asks malloc for everything else.
 */
#include <stddef.h>

void *mi_malloc(size_t size);
void *mi_calloc(size_t count, size_t size);
void *mi_realloc(void *p, size_t size);
void mi_free(void *p);
void *mi_aligned_alloc(size_t alignment, size_t size);
int mi_posix_memalign(void **p, size_t alignment, size_t size);
void *mi_memalign(size_t alignment, size_t size);
size_t mi_malloc_usable_size(const void *p);
void *mi_reallocarray(void *p, size_t count, size_t size);

void *malloc(size_t size) { return mi_malloc(size); }
void *calloc(size_t count, size_t size) { return mi_calloc(count, size); }
void *realloc(void *p, size_t size) { return mi_realloc(p, size); }
void free(void *p) { mi_free(p); }
void *aligned_alloc(size_t alignment, size_t size) { return mi_aligned_alloc(alignment, size); }
int posix_memalign(void **p, size_t alignment, size_t size) { return mi_posix_memalign(p, alignment, size); }
void *memalign(size_t alignment, size_t size) { return mi_memalign(alignment, size); }
size_t malloc_usable_size(void *p) { return mi_malloc_usable_size(p); }
void *reallocarray(void *p, size_t count, size_t size) { return mi_reallocarray(p, count, size); }
