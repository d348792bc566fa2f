/* test_secmem: secret memory (page-aligned, MADV_DONTDUMP, unmapped on free) and dumpability. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds.h"
#include "secmem.h"
#include "tf.h"

/* 1 when the mapping holding p has flag (two letters) in its smaps VmFlags, 0 when it has not,
 * -1 when p is in no mapping. */
static int vmflag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uintptr_t a = (uintptr_t)p;
	int in = 0, found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char want[5] = { ' ', flag[0], flag[1], ' ', 0 };

			line[strcspn(line, "\n")] = ' ';	/* the last flag is followed by one too */
			found = strstr(line + 8, want) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Whether the page holding p is mapped at all (mincore answers ENOMEM when it is not). */
static bool mapped(const void *p)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char vec;
	void *page = (void *)((uintptr_t)p & ~((uintptr_t)ps - 1));

	return mincore(page, 1, &vec) == 0 || errno != ENOMEM;
}

TEST(alloc_is_zeroed_page_aligned_and_not_dumped)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t sizes[] = { 0, 1, 100, (size_t)ps - 16, (size_t)ps, 3 * (size_t)ps + 5 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = secmem_alloc(sizes[i]);
		bool zero = true;

		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_EQ_INT(((uintptr_t)p - 16) % (uintptr_t)ps, 0);	/* a mapping of its own */
		for (size_t j = 0; j < sizes[i]; j++)
			zero = zero && p[j] == 0;
		CHECK(zero);
		memset(p, 0xa5, sizes[i]);
		CHECK_EQ_INT(vmflag(p, "dd"), 1);
		if (sizes[i])
			CHECK_EQ_INT(vmflag(p + sizes[i] - 1, "dd"), 1);
		secmem_free(p);
		CHECK(!mapped(p));	/* wiped, then gone: no copy left behind */
	}
	secmem_free(NULL);
	CHECK(secmem_alloc(SIZE_MAX) == NULL);
	CHECK(secmem_alloc(SIZE_MAX - 20) == NULL);
}

TEST(strdup_copies)
{
	char *s = secmem_strdup("hunter2-secret");
	char *e = secmem_strdup("");

	CHECK_EQ_STR(s, "hunter2-secret");
	CHECK_EQ_STR(e, "");
	CHECK_EQ_INT(vmflag(s, "dd"), 1);
	/* ordinary heap memory is dumped: the check above can fail */
	{
		char *h = malloc(64);

		CHECK_EQ_INT(vmflag(h, "dd"), 0);
		free(h);
	}
	secmem_free(s);
	secmem_free(e);
}

/* In a child (the process-wide settings must not leak into the other tests): the start-up call
 * makes the process non-dumpable and allocations DONTDUMP; allow_core_dumps undoes both. */
TEST(protect_process_in_a_child)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		int bad = 0;
		char *p;

		bad |= secmem_protect_process(true) != 0;
		bad |= (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) << 1;
		p = secmem_strdup("x");
		bad |= (vmflag(p, "dd") != 1) << 2;
		secmem_free(p);
		bad |= (secmem_protect_process(false) != 0) << 3;
		bad |= (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) << 4;
		p = secmem_strdup("x");
		bad |= (vmflag(p, "dd") != 0) << 5;
		secmem_free(p);
		_exit(bad ? __builtin_ctz((unsigned)bad) + 1 : 0);	/* the first failed check */
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ_INT(WEXITSTATUS(st), 0);	/* else 1 + the number of the failed check */
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);	/* this process untouched */
}

/* Where creds keep them: the provider's copy and every caller's copy are in DONTDUMP pages. */
TEST(credentials_live_in_secmem)
{
	struct creds_options o = { 0 };
	struct creds_provider *p = NULL;
	struct creds c = { 0 };
	char err[256] = "";

	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "SecmemId", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "SecmemSecret", 1);
	setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "SecmemToken", 1);
	CHECK_EQ_INT(creds_provider_new(&o, &p, err, sizeof(err)), 0);
	if (p) {
		CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
		CHECK_EQ_STR(c.access_key_secret, "SecmemSecret");
		CHECK_EQ_STR(c.security_token, "SecmemToken");
		CHECK_EQ_INT(vmflag(c.access_key_secret, "dd"), 1);
		CHECK_EQ_INT(vmflag(c.security_token, "dd"), 1);
		creds_clear(&c);
		CHECK(c.access_key_secret == NULL && c.security_token == NULL);
		creds_provider_free(p);
	}
	unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
	unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
	unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
}
