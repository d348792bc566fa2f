/* secmem: memory for secrets, kept out of core dumps and wiped when freed; process dumpability. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"

/* The mapping's length sits at its start; the caller's bytes follow, 16-byte aligned. */
#define SECMEM_HEADER 16

/* Set once at start-up (before threads); read by every allocation. Atomic all the same, so a
 * test that flips it cannot race a reader. */
static bool dontdump = true;

int secmem_protect_process(bool protect)
{
	__atomic_store_n(&dontdump, protect, __ATOMIC_RELEASE);
	if (prctl(PR_SET_DUMPABLE, protect ? 0 : 1, 0, 0, 0) != 0)
		return -errno;
	return 0;
}

void *secmem_alloc(size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t ps = page > 0 ? (size_t)page : 4096, len;
	unsigned char *base;

	if (n > SIZE_MAX - SECMEM_HEADER - ps)
		return NULL;
	len = (n + SECMEM_HEADER + ps - 1) / ps * ps;
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (__atomic_load_n(&dontdump, __ATOMIC_ACQUIRE))
		(void)madvise(base, len, MADV_DONTDUMP);	/* old kernels: EINVAL, dumped */
	memcpy(base, &len, sizeof(len));
	return base + SECMEM_HEADER;
}

char *secmem_strdup(const char *s)
{
	size_t n = strlen(s);
	char *p = secmem_alloc(n + 1);

	if (p)
		memcpy(p, s, n + 1);
	return p;
}

void secmem_free(void *p)
{
	unsigned char *base;
	size_t len;

	if (!p)
		return;
	base = (unsigned char *)p - SECMEM_HEADER;
	memcpy(&len, base, sizeof(len));
	OPENSSL_cleanse(base, len);
	munmap(base, len);
}
