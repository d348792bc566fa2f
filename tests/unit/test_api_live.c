/* test_api_live: the ListInstances client against the local DSW API server (started here):
 * complete walks, signatures, retries, faults, drift, filters on the wire, concurrency. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api.h"
#include "stats.h"
#include "tf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Small on purpose: the binary also runs under valgrind. */
#define FLEET 27
#define PAGE 10
#define AK_ID "LTAI5tLiveTestKeyId"
#define AK_SECRET "live-test-secret/+="

static pid_t server_pid;
static int server_port;
static int server_state;	/* 0 not tried, 1 up, -1 failed */
static char tmpdir[64];
static char logpath[128];
static struct creds_provider *creds;
static char *fleet_json;	/* the server's original fleet, restored after drift tests */

static void cleanup(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
				server_pid = 0;
				break;
			}
			usleep(20000);
		}
		if (server_pid > 0) {
			kill(server_pid, SIGKILL);
			waitpid(server_pid, NULL, 0);
		}
		server_pid = 0;
	}
	creds_provider_free(creds);
	creds = NULL;
	free(fleet_json);
	fleet_json = NULL;
	if (logpath[0])
		unlink(logpath);
	if (tmpdir[0])
		rmdir(tmpdir);
}

static void print_server_log(void)
{
	char line[512];
	FILE *f = fopen(logpath, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("  server: %s", line);
	fclose(f);
}

/* ---- the control API, through a private curl handle ---- */

struct body {
	char *p;
	size_t n;
};

static size_t collect(char *p, size_t sz, size_t nm, void *ud)
{
	struct body *b = ud;
	char *q = realloc(b->p, b->n + sz * nm + 1);

	if (!q)
		return 0;
	memcpy(q + b->n, p, sz * nm);
	b->n += sz * nm;
	q[b->n] = '\0';
	b->p = q;
	return sz * nm;
}

/* Sends method path (relative to the server) with an optional JSON body; returns the HTTP status
 * and the response in *out (caller frees) when out is not NULL. */
static long http(const char *method, const char *path, const char *json, char **out,
		 struct curl_slist *extra)
{
	char url[512];
	struct body b = { 0 };
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	h = curl_slist_append(h, "Content-Type: application/json");
	for (struct curl_slist *e = extra; e; e = e->next)
		h = curl_slist_append(h, e->data);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (json)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (out)
		*out = b.p ? b.p : strdup("");
	else
		free(b.p);
	return status;
}

static cJSON *ctl_json(const char *method, const char *path, const char *json)
{
	char *out = NULL;
	long st = http(method, path, json, &out, NULL);
	cJSON *v = cJSON_Parse(out);

	if (st != 200)
		printf("  control %s %s: HTTP %ld %.200s\n", method, path, st, out);
	free(out);
	return v;
}

static void ctl(const char *method, const char *path, const char *json)
{
	cJSON_Delete(ctl_json(method, path, json));
}

static void set_faults(const char *rules)
{
	char body[2048];

	snprintf(body, sizeof(body), "{\"faults\":[%s]}", rules);
	ctl("POST", "/_mock/faults", body);
	ctl("POST", "/_mock/stats/reset", "{}");
}

static void clear_faults(void)
{
	ctl("DELETE", "/_mock/faults", NULL);
	ctl("POST", "/_mock/stats/reset", "{}");
}

static long list_requests(void)
{
	cJSON *s = ctl_json("GET", "/_mock/stats", NULL);
	const cJSON *v = cJSON_GetObjectItem(s, "list_requests");
	long n = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;

	cJSON_Delete(s);
	return n;
}

/* ---- the server ---- */

static bool start_server(void)
{
	char port_line[256];
	int fd;

	if (server_state)
		return server_state > 0;
	server_state = -1;
	atexit(cleanup);
	if (access("scripts/dsw_mock_server.py", R_OK) != 0)
		return false;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_api_live.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		return false;
	}
	snprintf(logpath, sizeof(logpath), "%s/server.log", tmpdir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return false;
	fflush(stdout);
	server_pid = fork();
	if (server_pid == 0) {
		char n[16];

		/* The server must not outlive a crashed test. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		snprintf(n, sizeof(n), "%d", FLEET);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("PYTHONUNBUFFERED", "1", 1);
		execlp("python3", "python3", "scripts/dsw_mock_server.py", "--port", "0",
		       "--instances", n, "--seed", "7", "--access-key-id", AK_ID,
		       "--access-key-secret", AK_SECRET, (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (server_pid < 0)
		return false;
	/* Up to 15 s for the "listening on 127.0.0.1:PORT" line. */
	for (int i = 0; i < 1500 && !server_port; i++) {
		FILE *f = fopen(logpath, "r");

		while (f && fgets(port_line, sizeof(port_line), f)) {
			const char *p = strstr(port_line, "listening on 127.0.0.1:");

			if (p)
				server_port = atoi(p + strlen("listening on 127.0.0.1:"));
		}
		if (f)
			fclose(f);
		if (!server_port) {
			if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
				server_pid = 0;
				break;
			}
			usleep(10000);
		}
	}
	if (!server_port) {
		print_server_log();
		return false;
	}
	/* Credentials come only from this environment: no files from the real HOME. */
	{
		char err[256];
		struct creds_options o = { .ecs_role = false };

		setenv("HOME", tmpdir, 1);
		setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID, 1);
		setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET, 1);
		setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true", 1);
		setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true", 1);
		unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
		unsetenv("ALIBABA_CLOUD_CREDENTIALS_URI");
		unsetenv("ALIBABA_CLOUD_ROLE_ARN");
		unsetenv("ALIBABA_CLOUD_PROFILE");
		if (creds_provider_new(&o, &creds, err, sizeof(err)) != 0) {
			printf("  credentials: %s\n", err);
			return false;
		}
	}
	{
		char *out = NULL;

		if (http("GET", "/_mock/fleet", NULL, &out, NULL) != 200) {
			free(out);
			return false;
		}
		fleet_json = out;
	}
	server_state = 1;
	return true;
}

static bool need_server(void)
{
	if (start_server())
		return true;
	if (access("scripts/dsw_mock_server.py", R_OK) != 0)
		tf_skip("scripts/dsw_mock_server.py not found (run from the repo root)");
	else
		tf_fail(__FILE__, __LINE__, "the local DSW API server did not start");
	return false;
}

/* Puts the original fleet back (after drift and other changes). */
static void restore_fleet(void)
{
	cJSON *f = cJSON_Parse(fleet_json), *body = cJSON_CreateObject();
	char *s;

	cJSON_AddItemToObject(body, "Instances",
			      cJSON_DetachItemFromObject(f, "Instances"));
	s = cJSON_PrintUnformatted(body);
	ctl("POST", "/_mock/fleet", s);
	free(s);
	cJSON_Delete(body);
	cJSON_Delete(f);
	clear_faults();
}

static struct api_client *client(int ps, int parallel, int retries, long timeout_ms,
				 size_t max_body, struct creds_provider *cp)
{
	char ep[64];
	struct api_config cfg = {
		.endpoint = ep, .page_size = ps, .parallel_pages = parallel,
		.max_retries = retries, .backoff_base_ms = 2, .backoff_max_ms = 20,
		.connect_timeout_ms = 2000, .timeout_ms = timeout_ms, .max_body = max_body,
	};
	struct api_client *c = NULL;
	struct err_info e;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", server_port);
	if (api_client_new(&cfg, cp ? cp : creds, &c, &e) != 0)
		tf_fail(__FILE__, __LINE__, "api_client_new: %s", e.message);
	return c;
}

static const struct sign_kv all_filters[] = {
	{ "WorkspaceId", "ALL" },
	{ "ResourceId", "ALL" },
};

/* What the server itself returns for these filters, unpaged. */
static cJSON *server_query(const struct sign_kv *f, size_t n)
{
	cJSON *body = cJSON_CreateObject(), *params = cJSON_AddObjectToObject(body, "params");
	cJSON *res, *inst;
	char *s;

	for (size_t i = 0; i < n; i++)
		cJSON_AddStringToObject(params, f[i].name, f[i].value);
	s = cJSON_PrintUnformatted(body);
	res = ctl_json("POST", "/_mock/query", s);
	free(s);
	cJSON_Delete(body);
	inst = cJSON_DetachItemFromObject(res, "Instances");
	cJSON_Delete(res);
	return inst;
}

/* Whether a equals b element by element (same order, same objects). */
static bool same_list(const cJSON *a, const cJSON *b, bool verbose)
{
	int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);

	if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || na != nb) {
		if (verbose)
			printf("  lists differ in size: %d vs %d\n", na, nb);
		return false;
	}
	for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next)
		if (!cJSON_Compare(x, y, 1)) {
			if (verbose)
				printf("  first difference at %s\n",
				       cJSON_GetObjectItem(x, "InstanceId")->valuestring);
			return false;
		}
	return true;
}

static bool has_duplicates(const cJSON *arr)
{
	for (const cJSON *x = arr ? arr->child : NULL; x; x = x->next)
		for (const cJSON *y = x->next; y; y = y->next)
			if (!strcmp(cJSON_GetObjectItem(x, "InstanceId")->valuestring,
				    cJSON_GetObjectItem(y, "InstanceId")->valuestring))
				return true;
	return false;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- tests */

TEST(complete_walk_equals_server)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	cJSON *want, *fleet;
	int64_t req0;
	long expect_pages;

	if (!need_server())
		return;
	clear_faults();
	c = client(PAGE, 1, 2, 5000, 0, NULL);
	req0 = stats_get(STATS_API_REQUESTS);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	want = server_query(all_filters, N(all_filters));
	CHECK(same_list(r.instances, want, true));
	CHECK(!has_duplicates(r.instances));
	fleet = cJSON_Parse(fleet_json);
	/* WorkspaceId=ALL&ResourceId=ALL is the whole fleet */
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances),
		     cJSON_GetArraySize(cJSON_GetObjectItem(fleet, "Instances")));
	CHECK_EQ_INT(r.total_count, cJSON_GetArraySize(want));
	expect_pages = (cJSON_GetArraySize(want) + PAGE - 1) / PAGE;
	CHECK_EQ_INT(r.requests, expect_pages);
	CHECK_EQ_INT(r.pages, expect_pages);
	CHECK_EQ_INT(list_requests(), expect_pages);
	CHECK_EQ_INT(stats_get(STATS_API_REQUESTS) - req0, expect_pages);
	cJSON_Delete(fleet);
	cJSON_Delete(want);
	api_result_free(&r);

	/* the default query (no filters): whatever the server's defaults select */
	ctl("POST", "/_mock/stats/reset", "{}");
	CHECK_EQ_INT(api_list_instances(c, NULL, 0, &r, &e), 0);
	want = server_query(NULL, 0);
	CHECK(same_list(r.instances, want, true));
	CHECK_EQ_INT(list_requests(), cJSON_GetArraySize(want) ? (cJSON_GetArraySize(want) +
								  PAGE - 1) / PAGE : 1);
	cJSON_Delete(want);
	api_result_free(&r);
	api_client_free(c);
}

TEST(parallel_pages_equal_serial)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	cJSON *want;

	if (!need_server())
		return;
	clear_faults();
	c = client(7, 4, 2, 5000, 0, NULL);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	want = server_query(all_filters, N(all_filters));
	CHECK(same_list(r.instances, want, true));
	CHECK_EQ_INT(list_requests(), (cJSON_GetArraySize(want) + 6) / 7);
	cJSON_Delete(want);
	api_result_free(&r);
	api_client_free(c);
}

TEST(signatures_required_and_checked)
{
	struct api_client *c;
	struct creds_provider *bad = NULL;
	struct creds_options o = { .ecs_role = false };
	struct api_result r;
	struct err_info e;
	cJSON *s, *log, *entry, *page = NULL;
	char *out = NULL, errbuf[256];
	long st;
	int rc;

	if (!need_server())
		return;
	clear_faults();
	/* our requests are signed and accepted */
	c = client(PAGE, 1, 0, 5000, 0, NULL);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	api_result_free(&r);
	s = ctl_json("GET", "/_mock/stats", NULL);
	log = cJSON_GetObjectItem(s, "log");
	CHECK(cJSON_GetArraySize(log) > 0);
	cJSON_ArrayForEach(entry, log) {
		const cJSON *auth = cJSON_GetObjectItem(entry, "auth");

		CHECK(cJSON_IsString(auth) && !strcmp(auth->valuestring, "ok"));
	}
	cJSON_Delete(s);

	/* an unsigned request is refused, and that refusal maps to EACCES */
	{
		struct curl_slist *h = curl_slist_append(NULL, "x-acs-action: ListInstances");

		h = curl_slist_append(h, "x-acs-version: 2022-01-01");
		st = http("GET", "/api/v2/instances?PageNumber=1&PageSize=1", NULL, &out, h);
		curl_slist_free_all(h);
	}
	CHECK(st >= 400 && st < 500);
	rc = api_parse_page(out, strlen(out), (int)st, NULL, &page, NULL, &e);
	CHECK_EQ_INT(rc, -EACCES);
	if (rc != -EACCES)
		printf("  unsigned: HTTP %ld %.300s\n", st, out);
	CHECK_EQ_STR(e.code, "MissingAuthorization");
	free(out);
	cJSON_Delete(page);
	api_client_free(c);

	/* a wrong secret: SignatureDoesNotMatch, EACCES, not retried */
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret", 1);
	rc = creds_provider_new(&o, &bad, errbuf, sizeof(errbuf));
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET, 1);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		return;
	c = client(PAGE, 1, 3, 5000, 0, bad);
	ctl("POST", "/_mock/stats/reset", "{}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EACCES);
	CHECK(r.instances == NULL);
	CHECK_EQ_STR(e.code, "SignatureDoesNotMatch");
	CHECK_EQ_INT(e.attempts, 1);
	CHECK_EQ_INT(e.err, -EACCES);
	CHECK(e.http_status >= 400 && e.http_status < 500);
	CHECK_EQ_STR(e.query, "ResourceId=ALL&WorkspaceId=ALL");
	CHECK_EQ_INT(list_requests(), 1);
	api_client_free(c);
	creds_provider_free(bad);

	/* an unknown key id */
	bad = NULL;
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown", 1);
	rc = creds_provider_new(&o, &bad, errbuf, sizeof(errbuf));
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID, 1);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		return;
	c = client(PAGE, 1, 3, 5000, 0, bad);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EACCES);
	CHECK(!strncmp(e.code, "InvalidAccessKeyId", 18));
	api_client_free(c);
	creds_provider_free(bad);
}

TEST(transient_503_and_throttling_recover)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	int64_t retries0, thr0;
	long pages = (FLEET + PAGE - 1) / PAGE;

	if (!need_server())
		return;
	c = client(PAGE, 1, 3, 5000, 0, NULL);

	set_faults("{\"kind\":\"status\",\"status\":503,\"code\":\"ServiceUnavailableTemporary\","
		   "\"count\":2}");
	retries0 = stats_get(STATS_API_RETRIES);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), FLEET);
	CHECK_EQ_INT(stats_get(STATS_API_RETRIES) - retries0, 2);
	CHECK_EQ_INT(r.requests, pages + 2);
	CHECK_EQ_INT(list_requests(), pages + 2);
	api_result_free(&r);

	set_faults("{\"kind\":\"throttle\",\"count\":2,\"after\":1}");
	retries0 = stats_get(STATS_API_RETRIES);
	thr0 = stats_get(STATS_API_THROTTLED);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), FLEET);
	CHECK_EQ_INT(stats_get(STATS_API_RETRIES) - retries0, 2);
	CHECK_EQ_INT(stats_get(STATS_API_THROTTLED) - thr0, 2);
	CHECK_EQ_INT(r.requests, pages + 2);
	api_result_free(&r);

	/* throttling as HTTP 429 */
	set_faults("{\"kind\":\"throttle\",\"status\":429,\"count\":1}");
	thr0 = stats_get(STATS_API_THROTTLED);
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	CHECK_EQ_INT(stats_get(STATS_API_THROTTLED) - thr0, 1);
	api_result_free(&r);
	clear_faults();
	api_client_free(c);
}

TEST(persistent_errors_give_up)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char line[1024];

	if (!need_server())
		return;
	c = client(PAGE, 1, 2, 5000, 0, NULL);
	set_faults("{\"kind\":\"status\",\"status\":503,\"code\":\"ServiceUnavailableTemporary\"}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EIO);
	CHECK(r.instances == NULL);
	CHECK_EQ_INT(e.attempts, 3);
	CHECK_EQ_INT(e.http_status, 503);
	CHECK_EQ_STR(e.code, "ServiceUnavailableTemporary");
	CHECK_EQ_INT(list_requests(), 3);
	err_format(&e, line, sizeof(line));
	CHECK(strstr(line, "HTTP 503 ServiceUnavailableTemporary") != NULL);
	CHECK(strstr(line, "3 attempts") != NULL);

	/* a failure on a later page fails everything: never a partial fleet */
	set_faults("{\"kind\":\"status\",\"status\":500,\"code\":\"InternalError\",\"page\":3}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EIO);
	CHECK(r.instances == NULL);
	CHECK_EQ_STR(e.code, "InternalError");
	CHECK_EQ_INT(list_requests(), 2 + 3);

	set_faults("{\"kind\":\"throttle\"}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EAGAIN);
	CHECK(!strncmp(e.code, "Throttling", 10));
	CHECK_EQ_INT(e.attempts, 3);

	set_faults("{\"kind\":\"status\",\"status\":400,\"code\":\"ValidationError\"}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EINVAL);
	CHECK_EQ_INT(e.attempts, 1);
	clear_faults();
	api_client_free(c);
}

TEST(timeout_and_reset)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	double t0, el;

	if (!need_server())
		return;
	c = client(PAGE, 1, 1, 300, 0, NULL);
	set_faults("{\"kind\":\"timeout\",\"ms\":5000}");
	t0 = now_s();
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -ETIMEDOUT);
	el = now_s() - t0;
	CHECK(r.instances == NULL);
	CHECK_EQ_INT(e.attempts, 2);
	CHECK_EQ_INT(e.curl_code, CURLE_OPERATION_TIMEDOUT);
	/* two attempts of 300 ms plus a short backoff, generously bounded: far below the
	 * server's 5 s stall */
	CHECK(el >= 0.5 && el < 3.0);
	if (el >= 3.0)
		printf("  timeout took %.2fs\n", el);

	set_faults("{\"kind\":\"reset\"}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -ECONNRESET);
	CHECK_EQ_INT(e.attempts, 2);
	CHECK(e.curl_code != 0);
	/* a reset once is survived */
	set_faults("{\"kind\":\"reset\",\"count\":1,\"page\":2}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), FLEET);
	api_result_free(&r);
	clear_faults();
	api_client_free(c);
}

TEST(bad_bodies_are_ebadmsg)
{
	static const char *const kinds[] = {
		"{\"kind\":\"truncate\"}",
		"{\"kind\":\"malformed\"}",
		"{\"kind\":\"wrong_types\"}",
		"{\"kind\":\"truncate\",\"page\":2}",
		"{\"kind\":\"malformed\",\"page\":3}",
		"{\"kind\":\"malformed\",\"variant\":\"html\"}",
		"{\"kind\":\"malformed\",\"variant\":\"garbage\"}",
		"{\"kind\":\"malformed\",\"variant\":\"empty\"}",
		"{\"kind\":\"malformed\",\"variant\":\"trailing\"}",
	};
	struct api_client *c;
	struct api_result r;
	struct err_info e;

	if (!need_server())
		return;
	c = client(PAGE, 1, 1, 5000, 0, NULL);
	for (size_t i = 0; i < N(kinds); i++) {
		set_faults(kinds[i]);
		memset(&r, 0, sizeof(r));
		if (api_list_instances(c, all_filters, N(all_filters), &r, &e) != -EBADMSG)
			tf_fail(__FILE__, __LINE__, "%s: rc %d (%s)", kinds[i], e.err, e.message);
		CHECK(r.instances == NULL);
		CHECK_EQ_INT(e.attempts, 2);
		CHECK(e.message[0] != '\0');
	}
	/* once only: the retry gets a good body */
	set_faults("{\"kind\":\"malformed\",\"count\":1,\"page\":2}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), FLEET);
	api_result_free(&r);
	clear_faults();
	api_client_free(c);
}

TEST(wrong_type_variants_never_crash)
{
	/* Every variant breaks the page's structure except success_string, whose odd
	 * Success/HttpStatusCode/Code carry no error, and the two that spoil single instances:
	 * instance_not_object pads pages with non-objects (left out, the fleet listed), and
	 * instance_fields gives one instance of every page the same numeric InstanceId, so the
	 * pages overlap and the fleet never adds up (EAGAIN after the bounded walks). */
	static const struct {
		const char *name;
		int rc;
	} variants[] = {
		{ "mixed", -EBADMSG }, { "instance_fields", -EAGAIN },
		{ "instances_string", -EBADMSG }, { "instances_null", -EBADMSG },
		{ "instances_object", -EBADMSG }, { "instance_not_object", 0 },
		{ "totalcount_string", -EBADMSG }, { "top_level_array", -EBADMSG },
		{ "success_string", 0 },
	};
	struct api_client *c;
	struct api_result r;
	struct err_info e;

	if (!need_server())
		return;
	c = client(PAGE, 1, 0, 5000, 0, NULL);
	for (size_t i = 0; i < N(variants); i++) {
		char rule[128];
		int rc;

		snprintf(rule, sizeof(rule), "{\"kind\":\"wrong_types\",\"variant\":\"%s\"}",
			 variants[i].name);
		set_faults(rule);
		rc = api_list_instances(c, all_filters, N(all_filters), &r, &e);
		if (rc != variants[i].rc)
			tf_fail(__FILE__, __LINE__, "variant %s: rc %d (%s), expected %d",
				variants[i].name, rc, e.message, variants[i].rc);
		if (rc == 0)
			CHECK(!has_duplicates(r.instances));
		else
			CHECK(r.instances == NULL && e.message[0]);
		api_result_free(&r);
	}
	clear_faults();
	api_client_free(c);
}

TEST(huge_body_is_efbig)
{
	struct api_client *c;
	struct api_result r;
	struct err_info e;

	if (!need_server())
		return;
	c = client(PAGE, 1, 2, 5000, 64 * 1024, NULL);
	set_faults("{\"kind\":\"huge\",\"bytes\":400000}");
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), -EFBIG);
	CHECK(r.instances == NULL);
	CHECK_EQ_INT(e.attempts, 1);
	CHECK(strstr(e.message, "65536") != NULL);
	clear_faults();
	/* the cap is per response: normal pages still fit */
	CHECK_EQ_INT(api_list_instances(c, all_filters, N(all_filters), &r, &e), 0);
	api_result_free(&r);
	api_client_free(c);
}

/* once: the change happens once, so the restarted walk must succeed. exact: the result must
 * equal the fleet as it is afterwards; an add and a remove on the same page request keep
 * TotalCount, which no list-based client can tell from a stable fleet, so there only
 * completeness (TotalCount distinct instances) is checked. */
static void check_drift(const char *rule, bool once, bool exact)
{
	struct api_client *c = client(PAGE, 1, 1, 5000, 0, NULL);
	struct api_result r;
	struct err_info e;
	int rc;

	set_faults(rule);
	rc = api_list_instances(c, all_filters, N(all_filters), &r, &e);
	if (rc == 0) {
		/* complete and consistent with the fleet as it is now */
		cJSON *want = server_query(all_filters, N(all_filters));

		CHECK(!has_duplicates(r.instances));
		if (exact)
			CHECK(same_list(r.instances, want, true));
		CHECK_EQ_INT(cJSON_GetArraySize(r.instances), cJSON_GetArraySize(want));
		CHECK_EQ_INT(r.total_count, cJSON_GetArraySize(want));
		cJSON_Delete(want);
	} else {
		CHECK_EQ_INT(rc, -EAGAIN);
		CHECK(r.instances == NULL);
		CHECK(strstr(e.message, "changing") != NULL);
	}
	if (once)
		CHECK_EQ_INT(rc, 0);
	api_result_free(&r);
	api_client_free(c);
	restore_fleet();
}

TEST(page_drift_never_partial)
{
	if (!need_server())
		return;
	check_drift("{\"kind\":\"drift\",\"add\":3,\"page\":2,\"count\":1}", true, true);
	check_drift("{\"kind\":\"drift\",\"remove\":4,\"page\":2,\"count\":1}", true, true);
	check_drift("{\"kind\":\"drift\",\"add\":1,\"remove\":1,\"page\":3,\"count\":1}", false,
		    false);
	/* the fleet changes on every page-2 request: no walk can be trusted */
	check_drift("{\"kind\":\"drift\",\"add\":2,\"page\":2}", false, true);
}

/* Whether the server logged a ListInstances request whose decoded query holds every filter
 * exactly. The server logs a request after answering it, so the entry may lag a little. */
static bool server_saw(const struct sign_kv *f, size_t n)
{
	for (int tries = 0; tries < 200; tries++) {
		cJSON *s = ctl_json("GET", "/_mock/stats", NULL), *entry;
		bool found = false;

		cJSON_ArrayForEach(entry, cJSON_GetObjectItem(s, "log")) {
			const cJSON *q = cJSON_GetObjectItem(entry, "query");
			size_t i;

			for (i = 0; i < n; i++) {
				const cJSON *v = cJSON_GetObjectItem(q, f[i].name);

				if (!cJSON_IsString(v) || strcmp(v->valuestring, f[i].value) != 0)
					break;
			}
			if (i == n)
				found = true;
		}
		cJSON_Delete(s);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static void check_filter(struct api_client *c, const struct sign_kv *f, size_t n, bool nonempty)
{
	struct api_result r;
	struct err_info e;
	cJSON *want;

	ctl("POST", "/_mock/stats/reset", "{}");
	CHECK_EQ_INT(api_list_instances(c, f, n, &r, &e), 0);
	want = server_query(f, n);
	CHECK(same_list(r.instances, want, true));
	if (nonempty)
		CHECK(cJSON_GetArraySize(r.instances) > 0);
	if (!server_saw(f, n))
		tf_fail(__FILE__, __LINE__, "the server never saw the filters (last %s=%s)",
			f[n - 1].name, f[n - 1].value);
	cJSON_Delete(want);
	api_result_free(&r);
}

TEST(filters_reach_the_server)
{
	struct api_client *c;
	cJSON *fleet, *inst;
	char labels[512] = "", tag[512] = "", name[512] = "";

	if (!need_server())
		return;
	clear_faults();
	fleet = cJSON_Parse(fleet_json);
	/* awkward values taken from the fleet itself: a name with spaces or non-ASCII, a label,
	 * a tag */
	cJSON_ArrayForEach(inst, cJSON_GetObjectItem(fleet, "Instances")) {
		const cJSON *nm = cJSON_GetObjectItem(inst, "InstanceName");
		const cJSON *lb = cJSON_GetArrayItem(cJSON_GetObjectItem(inst, "Labels"), 0);
		const cJSON *tg = cJSON_GetArrayItem(cJSON_GetObjectItem(inst, "Tags"), 0);

		if (!name[0] && cJSON_IsString(nm) && strlen(nm->valuestring) < 200 &&
		    (strchr(nm->valuestring, ' ') && (unsigned char)nm->valuestring[0] >= 0x80))
			snprintf(name, sizeof(name), "%s", nm->valuestring);
		if (!labels[0] && cJSON_IsString(cJSON_GetObjectItem(lb, "Key")) &&
		    cJSON_IsString(cJSON_GetObjectItem(lb, "Value"))) {
			cJSON *o = cJSON_CreateObject();
			char *s;

			cJSON_AddStringToObject(o, cJSON_GetObjectItem(lb, "Key")->valuestring,
						cJSON_GetObjectItem(lb, "Value")->valuestring);
			s = cJSON_PrintUnformatted(o);
			snprintf(labels, sizeof(labels), "%s", s);
			free(s);
			cJSON_Delete(o);
		}
		if (!tag[0] && cJSON_IsString(cJSON_GetObjectItem(tg, "TagKey")) &&
		    cJSON_IsString(cJSON_GetObjectItem(tg, "TagValue")))
			snprintf(tag, sizeof(tag), "[{\"Key\":\"%s\",\"Value\":\"%s\"}]",
				 cJSON_GetObjectItem(tg, "TagKey")->valuestring,
				 cJSON_GetObjectItem(tg, "TagValue")->valuestring);
	}
	cJSON_Delete(fleet);
	c = client(5, 1, 1, 5000, 0, NULL);
	{
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "Status", "Running,Stopped" } };

		check_filter(c, f, N(f), true);
	}
	if (name[0]) {
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "InstanceName", name } };

		check_filter(c, f, N(f), true);
	} else {
		printf("  note: no unicode name with spaces in the fleet\n");
	}
	{
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "InstanceName", "実験 *~ (v2)+!' &=%?#/\xe6\xb5\x8b" } };

		check_filter(c, f, N(f), false);
	}
	if (labels[0]) {
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "Labels", labels } };

		check_filter(c, f, N(f), true);
	}
	if (tag[0]) {
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "Tag", tag } };

		check_filter(c, f, N(f), true);
	}
	{
		const struct sign_kv f[] = { { "WorkspaceId", "ALL" }, { "ResourceId", "ALL" },
					     { "AcceleratorType", "GPU" }, { "MinCpu", "1000" },
					     { "SortBy", "GmtCreateTime" }, { "Order", "ASC" } };

		check_filter(c, f, N(f), false);
	}
	api_client_free(c);
}

struct worker {
	struct api_client *c;
	const cJSON *want;
	int ok, failed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 2; i++) {
		struct api_result r;
		struct err_info e;

		if (api_list_instances(w->c, all_filters, N(all_filters), &r, &e) == 0 &&
		    same_list(r.instances, w->want, false))
			w->ok++;
		else
			w->failed++;
		api_result_free(&r);
	}
	return NULL;
}

TEST(concurrent_callers)
{
	struct api_client *serial, *parallel;
	struct worker w[8];
	pthread_t t[8];
	cJSON *want;
	int ok = 0;

	if (!need_server())
		return;
	clear_faults();
	want = server_query(all_filters, N(all_filters));
	serial = client(PAGE, 1, 3, 5000, 0, NULL);
	parallel = client(PAGE, 3, 3, 5000, 0, NULL);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .c = i % 2 ? parallel : serial, .want = want };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
		CHECK_EQ_INT(w[i].failed, 0);
	}
	CHECK_EQ_INT(ok, 16);
	CHECK_EQ_INT(list_requests(), 16 * ((cJSON_GetArraySize(want) + PAGE - 1) / PAGE));
	api_client_free(serial);
	api_client_free(parallel);
	cJSON_Delete(want);
}

TEST(probe_and_single_page)
{
	struct api_client *c;
	struct err_info e;
	cJSON *page = NULL;

	if (!need_server())
		return;
	clear_faults();
	c = client(PAGE, 1, 0, 5000, 0, NULL);
	CHECK_EQ_INT(api_probe(c, all_filters, N(all_filters), &e), 0);
	CHECK_EQ_INT(api_list_page(c, all_filters, N(all_filters), 2, 5, &page, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "Instances")), 5);
	CHECK_EQ_INT(cJSON_GetObjectItem(page, "TotalCount")->valueint, FLEET);
	CHECK(cJSON_IsString(cJSON_GetObjectItem(page, "RequestId")));
	cJSON_Delete(page);
	CHECK_EQ_INT(list_requests(), 2);
	api_client_free(c);
}
