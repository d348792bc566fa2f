/* hash: the one non-cryptographic hash of the project (FNV-1a, 64 bits), for hash tables and
 * content versions. */
#ifndef DSWFS_HASH_H
#define DSWFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's 64-bit offset basis: where a fresh hash starts. */
#define HASH_INIT 14695981039346656037ULL

/* Continues hash h over len bytes at data (h = HASH_INIT for a fresh hash), so a hash can run
 * over several pieces. Never fails. */
uint64_t hash_more(uint64_t h, const void *data, size_t len);

/* hash_more(HASH_INIT, data, len). */
uint64_t hash_mem(const void *data, size_t len);

/* The hash of a NUL-terminated string (its bytes, without the NUL). */
uint64_t hash_str(const char *s);

#endif
