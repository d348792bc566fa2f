/* secmem: memory for secrets, kept out of core dumps and wiped when freed; process dumpability. */
#ifndef DSWFS_SECMEM_H
#define DSWFS_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Start-up, before any secret is read and before threads start. With protect (the default,
 * as ssh-agent does): the process is made non-dumpable (no core file; other processes of the
 * same user cannot ptrace it or read its memory; /proc/PID is owned by root) and every later
 * secmem allocation is marked MADV_DONTDUMP. Without (-o allow_core_dumps, for debugging):
 * dumpable again and allocations are dumped like any memory. Returns 0 or -errno from prctl.
 * The setting is process-wide; until this is called, allocations are protected. */
int secmem_protect_process(bool protect);

/* n zeroed bytes in a mapping of their own (whole pages, page-aligned), MADV_DONTDUMP unless
 * secmem_protect_process(false) was called; that advice is best effort (the non-dumpable
 * process is the main guard). Release with secmem_free. NULL on ENOMEM (or n too large). */
void *secmem_alloc(size_t n);

/* A copy of s in secmem_alloc memory, or NULL on ENOMEM. s must not be NULL. */
char *secmem_strdup(const char *s);

/* Wipes every byte of the allocation (not only up to a NUL) and unmaps it. NULL is a no-op. */
void secmem_free(void *p);

#endif
