/* test_api: the ListInstances client's own logic: endpoint checks, page parsing of hostile
 * bodies, and the wire format and paging rules against a scripted in-process HTTP responder. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "render.h"
#include "stats.h"
#include "tf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- endpoint validation */

static int try_endpoint(const char *ep, struct err_info *e)
{
	struct api_config cfg = { .endpoint = ep };
	struct api_client *c = NULL;
	int rc = api_client_new(&cfg, NULL, &c, e);

	CHECK(rc == 0 ? c != NULL : c == NULL);
	api_client_free(c);
	return rc;
}

TEST(endpoint_accepted)
{
	static const char *const ok[] = {
		"https://pai-dsw.cn-hangzhou.aliyuncs.com",
		"https://pai-dsw.cn-hangzhou.aliyuncs.com/",
		"HTTPS://PAI-DSW.cn-hangzhou.aliyuncs.com:443",
		"https://pai-dsw-vpc.cn-shanghai.aliyuncs.com:8443",
		"https://10.0.0.1",
		"https://[2001:db8::1]:443",
		"http://127.0.0.1:8080",
		"http://127.1.2.3",
		"http://localhost:9",
		"http://LOCALHOST",
		"http://[::1]:8080",
		"http://[::1]",
	};
	struct err_info e;

	for (size_t i = 0; i < N(ok); i++)
		if (try_endpoint(ok[i], &e) != 0)
			tf_fail(__FILE__, __LINE__, "endpoint %s refused: %s", ok[i], e.message);
}

TEST(endpoint_refused)
{
	static const char *const bad[] = {
		"",
		"pai-dsw.cn-hangzhou.aliyuncs.com",
		"ftp://127.0.0.1",
		"file:///etc/passwd",
		"http://pai-dsw.cn-hangzhou.aliyuncs.com",	/* plain http off loopback */
		"http://10.0.0.1:80",
		"http://128.0.0.1",
		"http://127.0.0.1.evil.example",
		"http://localhost.evil.example",
		"http://127.1",					/* not a strict dotted quad */
		"http://0x7f.0.0.1",
		"http://[::2]",
		"http://[::ffff:10.0.0.1]",
		"https://host/api/v2",				/* a path */
		"https://host?x=1",
		"https://host#frag",
		"https://user:pw@host",
		"https://",
		"https://:443",
		"https://host:",
		"https://host:0",
		"https://host:65536",
		"https://host:12ab",
		"https://[::1",
		"https://[zz::1]",
		"https://[::1]x",
		"https://ho st",
		"https://host\r\nX-Evil: 1",
		"https://.host",
		"https://a..b",
	};
	struct err_info e;

	for (size_t i = 0; i < N(bad); i++) {
		memset(&e, 0, sizeof(e));
		if (try_endpoint(bad[i], &e) != -EINVAL)
			tf_fail(__FILE__, __LINE__, "endpoint \"%s\" accepted", bad[i]);
		else if (!e.message[0])
			tf_fail(__FILE__, __LINE__, "endpoint \"%s\": no reason given", bad[i]);
	}
	CHECK_EQ_INT(try_endpoint(NULL, &e), -EINVAL);
	CHECK(strstr(e.message, "empty") != NULL);
	try_endpoint("http://pai-dsw.cn-hangzhou.aliyuncs.com", &e);
	CHECK(strstr(e.message, "loopback") != NULL);
}

TEST(config_ranges)
{
	struct api_config cfg = { .endpoint = "http://127.0.0.1:1", .page_size = -1 };
	struct api_client *c = NULL;
	struct err_info e;

	CHECK_EQ_INT(api_client_new(&cfg, NULL, &c, &e), -EINVAL);
	cfg.page_size = 100000;
	CHECK_EQ_INT(api_client_new(&cfg, NULL, &c, &e), -EINVAL);
	CHECK_EQ_INT(api_client_new(NULL, NULL, &c, &e), -EINVAL);
	cfg.page_size = 0;
	cfg.max_retries = -5;
	cfg.parallel_pages = 1000;
	CHECK_EQ_INT(api_client_new(&cfg, NULL, &c, NULL), 0);
	api_client_free(c);
	api_client_free(NULL);
}

/* ---------------------------------------------------------------- page parsing */

static int parse(const char *body, int status, cJSON **page, struct err_info *e)
{
	memset(e, 0, sizeof(*e));
	return api_parse_page(body, body ? strlen(body) : 0, status, NULL, page, NULL, e);
}

static void expect_bad(const char *body, const char *needle, const char *file, int line)
{
	struct err_info e;
	cJSON *page = (cJSON *)1;
	int rc = parse(body, 200, &page, &e);

	if (rc != -EBADMSG)
		tf_fail(file, line, "body %.80s: rc %d, expected -EBADMSG", body, rc);
	if (page)
		tf_fail(file, line, "body %.80s: page not NULL on failure", body);
	if (!e.message[0] || (needle && !strstr(e.message, needle)))
		tf_fail(file, line, "body %.80s: message \"%s\" lacks \"%s\"", body, e.message,
			needle ? needle : "");
}
#define EXPECT_BAD(body, needle) expect_bad(body, needle, __FILE__, __LINE__)

static const char good_page[] =
	"{\"RequestId\":\"R1\",\"Success\":true,\"Code\":\"null\",\"TotalCount\":2,"
	"\"Instances\":[{\"InstanceId\":\"dsw-1\",\"InstanceName\":\"a\",\"Status\":\"Running\"},"
	"{\"InstanceId\":\"dsw-2\",\"InstanceName\":\"\\u6d4b\\u8bd5\",\"Labels\":[]}]}";

TEST(parse_good_page)
{
	struct err_info e;
	cJSON *page = NULL;

	CHECK_EQ_INT(parse(good_page, 200, &page, &e), 0);
	CHECK(page != NULL);
	if (!page)
		return;
	CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "Instances")), 2);
	CHECK_EQ_INT(cJSON_GetObjectItem(page, "TotalCount")->valueint, 2);
	cJSON_Delete(page);
	/* not NUL-terminated: only len bytes are read */
	{
		size_t n = strlen(good_page);
		char *copy = malloc(n + 10);

		memcpy(copy, good_page, n);
		memset(copy + n, '}', 10);
		CHECK_EQ_INT(api_parse_page(copy, n, 200, NULL, &page, NULL, &e), 0);
		cJSON_Delete(page);
		free(copy);
	}
}

TEST(parse_empty_fleet)
{
	struct err_info e;
	cJSON *page = NULL;

	/* an absent Instances with TotalCount 0 is an empty page */
	CHECK_EQ_INT(parse("{\"TotalCount\":0,\"RequestId\":\"x\"}", 200, &page, &e), 0);
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(page, "Instances")));
	CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "Instances")), 0);
	cJSON_Delete(page);
	CHECK_EQ_INT(parse("{\"TotalCount\":0,\"Instances\":null}", 200, &page, &e), 0);
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(page, "Instances")));
	cJSON_Delete(page);
	CHECK_EQ_INT(parse("{\"TotalCount\":0,\"Instances\":[]}", 200, &page, &e), 0);
	cJSON_Delete(page);
	/* TotalCount as an integral float is still an integer */
	CHECK_EQ_INT(parse("{\"TotalCount\":1.0e0,\"Instances\":[{\"InstanceId\":\"i\"}]}", 200,
			   &page, &e), 0);
	cJSON_Delete(page);
}

TEST(parse_malformed_json)
{
	EXPECT_BAD("", "empty");
	EXPECT_BAD("{", "not valid JSON");
	EXPECT_BAD("{\"TotalCount\":", "not valid JSON");
	EXPECT_BAD("<html>502 Bad Gateway</html>", "not valid JSON");
	EXPECT_BAD("{\"TotalCount\":1,\"Instances\":[{\"InstanceId\":\"a\"}]}garbage", NULL);
	EXPECT_BAD("[]", "not a JSON object");
	EXPECT_BAD("null", "not a JSON object");
	EXPECT_BAD("123", "not a JSON object");
	EXPECT_BAD("\"str\"", "not a JSON object");
	EXPECT_BAD("{\"a\":\"\\ud800\"", NULL);
	{
		struct err_info e;
		cJSON *page = (cJSON *)1;

		CHECK_EQ_INT(api_parse_page(NULL, 0, 200, NULL, &page, NULL, &e), -EBADMSG);
		CHECK(page == NULL);
		/* a NUL inside the declared length */
		CHECK_EQ_INT(api_parse_page("{\"TotalCount\":0}\0xx", 19, 200, NULL, &page, NULL, &e),
			     -EBADMSG);
	}
}

TEST(parse_every_truncation)
{
	size_t n = strlen(good_page);
	struct err_info e;

	for (size_t len = 0; len < n; len++) {
		cJSON *page = NULL;
		int rc = api_parse_page(good_page, len, 200, NULL, &page, NULL, &e);

		if (rc != -EBADMSG || page)
			tf_fail(__FILE__, __LINE__, "prefix of %zu bytes: rc %d", len, rc);
		cJSON_Delete(page);
	}
}

TEST(parse_wrong_types)
{
	EXPECT_BAD("{\"TotalCount\":1,\"Instances\":\"dsw-1\"}", "Instances is a string");
	EXPECT_BAD("{\"TotalCount\":1,\"Instances\":{\"InstanceId\":\"a\"}}",
		   "Instances is an object");
	EXPECT_BAD("{\"TotalCount\":1,\"Instances\":7}", "Instances is a number");
	EXPECT_BAD("{\"TotalCount\":1,\"Instances\":true}", "Instances is a boolean");
	EXPECT_BAD("{\"TotalCount\":\"2\",\"Instances\":[]}", "TotalCount is a string");
	EXPECT_BAD("{\"TotalCount\":null,\"Instances\":[]}", "TotalCount is null");
	EXPECT_BAD("{\"TotalCount\":true,\"Instances\":[]}", "TotalCount is a boolean");
	EXPECT_BAD("{\"TotalCount\":[1],\"Instances\":[]}", "TotalCount is an array");
	EXPECT_BAD("{\"TotalCount\":-1,\"Instances\":[]}", "not an integer");
	EXPECT_BAD("{\"TotalCount\":1.5,\"Instances\":[]}", "not an integer");
	EXPECT_BAD("{\"TotalCount\":1e300,\"Instances\":[]}", "not an integer");
	EXPECT_BAD("{\"TotalCount\":99999999999,\"Instances\":[]}", "not an integer");
	/* a bad InstanceId is the instance's problem, not the page's: parse_bad_ids */
	/* other fields of the wrong type are left for the renderer to judge */
	{
		struct err_info e;
		cJSON *page = NULL;

		CHECK_EQ_INT(parse("{\"TotalCount\":1,\"Instances\":[{\"InstanceId\":\"a\","
				   "\"Status\":5,\"Labels\":\"x\",\"Priority\":\"high\"}]}",
				   200, &page, &e), 0);
		cJSON_Delete(page);
	}
}

TEST(parse_missing_fields)
{
	EXPECT_BAD("{}", "TotalCount is missing");
	EXPECT_BAD("{\"Instances\":[]}", "TotalCount is missing");
	EXPECT_BAD("{\"TotalCount\":3}", "Instances is missing but TotalCount is 3");
	EXPECT_BAD("{\"TotalCount\":3,\"Instances\":null}", "Instances is null");
}

TEST(parse_duplicates_and_huge_strings)
{
	struct err_info e;
	cJSON *page = NULL;
	size_t big = 1 << 20;
	char *body = malloc(big + 200);
	int n;

	/* duplicates are a paging matter: the parser returns the page as sent */
	CHECK_EQ_INT(parse("{\"TotalCount\":2,\"Instances\":[{\"InstanceId\":\"a\"},"
			   "{\"InstanceId\":\"a\"}]}", 200, &page, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(page, "Instances")), 2);
	cJSON_Delete(page);
	/* a duplicate key: cJSON keeps the first, which is still well typed */
	CHECK_EQ_INT(parse("{\"TotalCount\":1,\"TotalCount\":\"x\",\"Instances\":"
			   "[{\"InstanceId\":\"a\"}]}", 200, &page, &e), 0);
	cJSON_Delete(page);

	n = snprintf(body, 200, "{\"TotalCount\":1,\"Instances\":[{\"InstanceId\":\"a\","
			 "\"InstanceName\":\"");
	memset(body + n, 'x', big);
	strcpy(body + n + big, "\"}]}");
	CHECK_EQ_INT(parse(body, 200, &page, &e), 0);
	cJSON_Delete(page);

	/* a huge error message is cut to the field, cleanly */
	n = snprintf(body, 200, "{\"Code\":\"InternalError\",\"RequestId\":\"R\",\"Message\":\"");
	for (size_t i = 0; i < big; i += 3)
		memcpy(body + n + i, "\xe6\xb5\x8b", 3); /* U+6D4B, three bytes each */
	strcpy(body + n + big / 3 * 3, "\"}");
	CHECK_EQ_INT(parse(body, 500, &page, &e), -EIO);
	CHECK(page == NULL);
	CHECK(strlen(e.message) < sizeof(e.message));
	CHECK(strlen(e.message) % 3 == 0); /* never cut inside a UTF-8 sequence */
	CHECK_EQ_STR(e.request_id, "R");

	/* a huge InstanceId is accepted by the parser (it is a string); deep nesting is not */
	n = 0;
	for (int i = 0; i < 100000; i++)
		body[n++] = '[';
	body[n] = '\0';
	EXPECT_BAD(body, NULL);
	free(body);
}

TEST(parse_error_bodies)
{
	struct err_info e;
	cJSON *page = NULL;

	CHECK_EQ_INT(parse("{\"RequestId\":\"RID-9\",\"HostId\":\"h\",\"Code\":\"Throttling.User\","
			   "\"Message\":\"Request was denied due to user flow control.\","
			   "\"Recommend\":\"r\"}", 400, &page, &e), -EAGAIN);
	CHECK(page == NULL);
	CHECK_EQ_STR(e.code, "Throttling.User");
	CHECK_EQ_STR(e.request_id, "RID-9");
	CHECK_EQ_STR(e.message, "Request was denied due to user flow control.");
	CHECK_EQ_INT(e.http_status, 400);

	CHECK_EQ_INT(parse("{\"Code\":\"SignatureDoesNotMatch\",\"Message\":\"bad\"}", 400, &page,
			   &e), -EACCES);
	CHECK_EQ_STR(e.code, "SignatureDoesNotMatch");
	CHECK_EQ_INT(parse("{\"Code\":\"InvalidAccessKeyId.NotFound\"}", 404, &page, &e),
		     -EACCES);
	CHECK(e.message[0] != '\0');
	CHECK_EQ_INT(parse("{\"Code\":\"ValidationError\",\"Message\":\"x\"}", 200, &page, &e),
		     -EINVAL);
	CHECK_EQ_INT(parse("{\"Code\":\"ServiceUnavailableTemporary\"}", 503, &page, &e), -EIO);
	/* Success false without a Code is still a failure */
	CHECK_EQ_INT(parse("{\"Success\":false,\"TotalCount\":0}", 200, &page, &e), -EIO);
	CHECK(strstr(e.message, "Success is false") != NULL);
	CHECK_EQ_INT(parse("{\"Success\":false,\"HttpStatusCode\":404,\"Code\":\"x\"}", 200, &page,
			   &e), -ENOENT);
	/* a non-JSON error page maps by its status and is described, never quoted */
	CHECK_EQ_INT(parse("<html>\r\n<h1>502 Bad Gateway</h1></html>", 502, &page, &e), -EIO);
	CHECK(strstr(e.message, "HTTP 502") != NULL);
	CHECK(strstr(e.message, "39 bytes") != NULL);
	CHECK(strstr(e.message, "Bad Gateway") == NULL);
	CHECK(!strchr(e.message, '\n') && !strchr(e.message, '\r'));
	CHECK_EQ_INT(parse("", 404, &page, &e), -ENOENT);
	CHECK_EQ_INT(parse("{\"Code\":5,\"Message\":[]}", 403, &page, &e), -EACCES);
	/* control characters in a Message never reach the one-line log */
	CHECK_EQ_INT(parse("{\"Code\":\"InternalError\",\"Message\":\"a\\nb\\u0000c\\td\"}", 500,
			   &page, &e), -EIO);
	CHECK(!strchr(e.message, '\n') && !strchr(e.message, '\t'));
	CHECK(strncmp(e.message, "a b", 3) == 0);
	CHECK(page == NULL);
}

/* ---------------------------------------------------------------- scripted HTTP responder */

struct reply {
	int status;
	const char *body;	/* NULL: the default for this page */
};

struct fake {
	int lfd, port;
	pthread_t tid;
	int stop;
	pthread_mutex_t lock;
	/* answer: by request index when seq[i].status, else by page number from pages[] */
	struct reply seq[32];
	char *pages[64];
	int npages_def;
	int nreq;
	bool keepalive;		/* serve several requests per connection */
	int accepts;		/* connections accepted */
	char reqs[32][4096];	/* the first requests' head, for inspection */
	int page_of[256];	/* PageNumber of each request */
	int size_of[256];	/* PageSize of each request */
	char *every;		/* when set (owned): the body of every 200 answer, any page */
	const char *ctype;	/* Content-Type, NULL = application/json */
};

static int query_int(const char *req, const char *name)
{
	char pat[32];
	const char *p, *end = strstr(req, " HTTP/");

	snprintf(pat, sizeof(pat), "%s=", name);
	for (p = strstr(req, pat); p && p < end; p = strstr(p + 1, pat))
		if (p[-1] == '?' || p[-1] == '&')
			return atoi(p + strlen(pat));
	return -1;
}

static void fake_answer(struct fake *f, int fd, const char *req)
{
	char head[256];
	const char *body;
	int idx, pn, status;
	size_t len;

	pthread_mutex_lock(&f->lock);
	idx = f->nreq++;
	pn = query_int(req, "PageNumber");
	if (idx < (int)N(f->reqs))
	{
		size_t n = strnlen(req, sizeof(f->reqs[idx]) - 1);

		memcpy(f->reqs[idx], req, n);
		f->reqs[idx][n] = '\0';
	}
	if (idx < (int)N(f->page_of)) {
		f->page_of[idx] = pn;
		f->size_of[idx] = query_int(req, "PageSize");
	}
	if (idx < (int)N(f->seq) && f->seq[idx].status) {
		status = f->seq[idx].status;
		body = f->seq[idx].body;
	} else {
		status = 200;
		body = NULL;
	}
	if (!body && f->every)
		body = f->every;
	if (!body)
		body = (pn >= 1 && pn < (int)N(f->pages) && f->pages[pn]) ? f->pages[pn] :
			"{\"TotalCount\":0}";
	pthread_mutex_unlock(&f->lock);
	len = strlen(body);
	snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
		 "Content-Length: %zu\r\nConnection: %s\r\n\r\n", status,
		 f->ctype ? f->ctype : "application/json", len,
		 f->keepalive ? "keep-alive" : "close");
	if (write(fd, head, strlen(head)) < 0 || write(fd, body, len) < 0)
		return;
}

/* Reads one request head; false at EOF, on error or when stopping. */
static bool fake_read(struct fake *f, int fd, char *req, size_t size)
{
	size_t got = 0;

	req[0] = '\0';
	while (got < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
			return false;
		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(fd, req + got, size - 1 - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || (unsigned char)req[0] == 0x16)
			return true;	/* a TLS ClientHello gets a plain HTTP answer */
	}
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		char req[8192];
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		__atomic_add_fetch(&f->accepts, 1, __ATOMIC_RELAXED);
		while (fake_read(f, fd, req, sizeof(req))) {
			fake_answer(f, fd, req);
			if (!f->keepalive)
				break;
		}
		shutdown(fd, SHUT_WR);
		{
			char drain[256];

			while (!f->keepalive && read(fd, drain, sizeof(drain)) > 0)
				;
		}
		close(fd);
	}
	return NULL;
}

static struct fake *fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(f->lfd, 64) != 0 || getsockname(f->lfd, (struct sockaddr *)&a, &alen) != 0) {
		perror("fake server");
		abort();
	}
	f->port = ntohs(a.sin_port);
	pthread_mutex_init(&f->lock, NULL);
	pthread_create(&f->tid, NULL, fake_main, f);
	return f;
}

static void fake_stop(struct fake *f)
{
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->tid, NULL);
	close(f->lfd);
	for (size_t i = 0; i < N(f->pages); i++)
		free(f->pages[i]);
	free(f->every);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* A page body: TotalCount total and instances named by the comma list ids. */
static char *page_body(long total, const char *ids)
{
	char *out = malloc(65536), *p = out;
	const char *s = ids;

	p += sprintf(p, "{\"RequestId\":\"req\",\"TotalCount\":%ld,\"Instances\":[", total);
	while (s && *s) {
		size_t n = strcspn(s, ",");

		p += sprintf(p, "%s{\"InstanceId\":\"%.*s\",\"InstanceName\":\"n-%.*s\"}",
			     p[-1] == '[' ? "" : ",", (int)n, s, (int)n, s);
		s += n;
		if (*s == ',')
			s++;
	}
	strcpy(p, "]}");
	return out;
}

static void fake_page(struct fake *f, int pn, long total, const char *ids)
{
	free(f->pages[pn]);
	f->pages[pn] = page_body(total, ids);
}

/* A fleet of n instances i00..i(n-1) served in pages of ps. */
static void fake_fleet(struct fake *f, int n, int ps)
{
	for (int pn = 1; (pn - 1) * ps < n || pn == 1; pn++) {
		char ids[4096] = "";
		size_t off = 0;

		for (int i = (pn - 1) * ps; i < n && i < pn * ps; i++)
			off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%si%02d",
						off ? "," : "", i);
		fake_page(f, pn, n, ids);
	}
}

static int creds_ready;
static struct creds_provider *test_creds;

static struct creds_provider *get_creds(void)
{
	char tmpl[] = "/tmp/test_api.XXXXXX", err[256];
	struct creds_options o = { .ecs_role = false };

	if (creds_ready)
		return test_creds;
	creds_ready = 1;
	if (!mkdtemp(tmpl))
		return NULL;
	setenv("HOME", tmpl, 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "TESTKEYID", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret", 1);
	unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
	setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true", 1);
	setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true", 1);
	unsetenv("ALIBABA_CLOUD_CREDENTIALS_URI");
	unsetenv("ALIBABA_CLOUD_ROLE_ARN");
	if (creds_provider_new(&o, &test_creds, err, sizeof(err)) != 0) {
		fprintf(stdout, "  creds_provider_new: %s\n", err);
		test_creds = NULL;
	}
	rmdir(tmpl);
	return test_creds;
}

__attribute__((destructor)) static void free_creds(void)
{
	creds_provider_free(test_creds);
}

static struct api_client *client_for(struct fake *f, int ps, int parallel, int retries)
{
	char ep[64];
	struct api_config cfg = {
		.endpoint = ep, .page_size = ps, .parallel_pages = parallel,
		.max_retries = retries, .backoff_base_ms = 1, .backoff_max_ms = 5,
		.connect_timeout_ms = 2000, .timeout_ms = 5000,
	};
	struct api_client *c = NULL;
	struct err_info e;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	if (api_client_new(&cfg, get_creds(), &c, &e) != 0)
		fprintf(stdout, "  api_client_new: %s\n", e.message);
	return c;
}

static bool need_creds(void)
{
	if (!get_creds()) {
		tf_skip("no credentials provider");
		return false;
	}
	return true;
}

static int ids_of(const cJSON *arr, char *out, size_t len)
{
	size_t off = 0;
	const cJSON *it;
	int n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(it, arr) {
		off += (size_t)snprintf(out + off, len > off ? len - off : 0, "%s%s", n ? "," : "",
					cJSON_GetObjectItem(it, "InstanceId")->valuestring);
		n++;
	}
	return n;
}

/* Returns the value of header name (lower-case) in a raw request head, copied to out. */
static bool header_of(const char *req, const char *name, char *out, size_t len)
{
	const char *p = strstr(req, "\r\n");

	while (p && p[2] && p[2] != '\r') {
		const char *line = p + 2, *colon = strchr(line, ':'), *eol = strstr(line, "\r\n");
		size_t nl = strlen(name);

		if (!eol || !colon)
			return false;
		if ((size_t)(colon - line) == nl && !strncasecmp(line, name, nl)) {
			const char *v = colon + 1;

			while (*v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)(eol - v), v);
			return true;
		}
		p = eol;
	}
	return false;
}

TEST(wire_format_and_signature)
{
	static const struct sign_kv filters[] = {
		{ "WorkspaceId", "ALL" },
		{ "InstanceName", "my notebook \xe6\xb5\x8b*~" },
		{ "Status", "Running,Stopped" },
		{ "Labels", "{\"k\":\"v w\"}" },
	};
	struct sign_kv all[N(filters) + 2];
	struct fake *f;
	struct api_client *c;
	cJSON *page = NULL;
	struct err_info e;
	char want_qs[1024], *qs, line[2048], v[1024], nonce1[128] = "", host[64];
	int rc;

	if (!need_creds())
		return;
	f = fake_start();
	fake_page(f, 3, 1, "z");
	c = client_for(f, 7, 1, 0);
	rc = api_list_page(c, filters, N(filters), 3, 7, &page, &e);
	CHECK_EQ_INT(rc, 0);
	cJSON_Delete(page);
	rc = api_list_page(c, filters, N(filters), 3, 7, &page, &e);
	CHECK_EQ_INT(rc, 0);
	cJSON_Delete(page);
	CHECK_EQ_INT(f->nreq, 2);

	memcpy(all, filters, sizeof(filters));
	all[N(filters)] = (struct sign_kv){ "PageNumber", "3" };
	all[N(filters) + 1] = (struct sign_kv){ "PageSize", "7" };
	qs = sign_query_string(all, N(all));
	snprintf(want_qs, sizeof(want_qs), "GET /api/v2/instances?%s HTTP/1.1\r\n", qs);
	free(qs);
	CHECK(strncmp(f->reqs[0], want_qs, strlen(want_qs)) == 0);
	if (strncmp(f->reqs[0], want_qs, strlen(want_qs)) != 0)
		printf("  got:  %.300s\n  want: %s\n", f->reqs[0], want_qs);
	CHECK(strstr(want_qs, "InstanceName=my%20notebook%20%E6%B5%8B%2A~&") != NULL);
	CHECK(strstr(want_qs, "Status=Running%2CStopped") != NULL);

	snprintf(host, sizeof(host), "127.0.0.1:%d", f->port);
	CHECK(header_of(f->reqs[0], "host", v, sizeof(v)) && !strcmp(v, host));
	CHECK(header_of(f->reqs[0], "x-acs-action", v, sizeof(v)) && !strcmp(v, "ListInstances"));
	CHECK(header_of(f->reqs[0], "x-acs-version", v, sizeof(v)) && !strcmp(v, "2022-01-01"));
	CHECK(header_of(f->reqs[0], "x-acs-content-sha256", v, sizeof(v)) &&
	      !strcmp(v, SIGN_EMPTY_SHA256));
	CHECK(header_of(f->reqs[0], "accept", v, sizeof(v)) && !strcmp(v, "application/json"));
	CHECK(header_of(f->reqs[0], "user-agent", v, sizeof(v)) && !strncmp(v, "dswfs/", 6));
	CHECK(!header_of(f->reqs[0], "x-acs-security-token", v, sizeof(v)));
	CHECK(header_of(f->reqs[0], "x-acs-date", v, sizeof(v)));
	{
		struct tm tm = { 0 };
		char *end = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm);
		long skew = (long)(timegm(&tm) - time(NULL));

		CHECK(end && *end == '\0' && strlen(v) == 20);
		CHECK(skew <= 5 && skew >= -60);
	}
	CHECK(header_of(f->reqs[0], "x-acs-signature-nonce", nonce1, sizeof(nonce1)));
	CHECK(strlen(nonce1) >= 32);
	CHECK(header_of(f->reqs[1], "x-acs-signature-nonce", v, sizeof(v)) && strcmp(v, nonce1));

	/* the Authorization header is what the signer gives for the headers that were sent */
	for (int r = 0; r < 2; r++) {
		char date[64], nonce[128], *auth;
		struct sign_kv hdrs[] = {
			{ "host", host }, { "x-acs-action", "ListInstances" },
			{ "x-acs-version", "2022-01-01" }, { "x-acs-date", date },
			{ "x-acs-signature-nonce", nonce },
			{ "x-acs-content-sha256", SIGN_EMPTY_SHA256 },
		};
		struct sign_request sr = {
			.method = "GET", .path = "/api/v2/instances", .query = all,
			.nquery = N(all), .headers = hdrs, .nheaders = N(hdrs),
			.payload_hash = SIGN_EMPTY_SHA256,
		};

		header_of(f->reqs[r], "x-acs-date", date, sizeof(date));
		header_of(f->reqs[r], "x-acs-signature-nonce", nonce, sizeof(nonce));
		auth = sign_authorization(&sr, "TESTKEYID", "testsecret");
		CHECK(header_of(f->reqs[r], "authorization", line, sizeof(line)));
		CHECK(auth && !strcmp(line, auth));
		CHECK(strstr(line, "SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
				   "x-acs-date;x-acs-signature-nonce;x-acs-version,") != NULL);
		free(auth);
	}
	api_client_free(c);
	fake_stop(f);
}

TEST(bad_filters)
{
	static const struct sign_kv paged[] = { { "PageSize", "5" } };
	static const struct sign_kv twice[] = { { "Status", "Running" }, { "Status", "Stopped" } };
	static const struct sign_kv noval[] = { { "Status", NULL } };
	struct api_config cfg = { .endpoint = "http://127.0.0.1:9" };
	struct api_client *c = NULL;
	struct api_result r;
	struct err_info e;
	cJSON *page = NULL;

	CHECK_EQ_INT(api_client_new(&cfg, NULL, &c, &e), 0);
	CHECK_EQ_INT(api_list_instances(c, paged, 1, &r, &e), -EINVAL);
	CHECK(strstr(e.message, "PageSize") != NULL);
	CHECK(r.instances == NULL);
	CHECK_EQ_INT(api_list_instances(c, twice, 2, &r, &e), -EINVAL);
	CHECK_EQ_INT(api_list_instances(c, noval, 1, &r, &e), -EINVAL);
	CHECK_EQ_INT(api_list_page(c, NULL, 0, 0, 10, &page, &e), -EINVAL);
	CHECK_EQ_INT(api_list_page(c, NULL, 0, 1, 0, &page, &e), -EINVAL);
	/* no credentials: refused before anything is sent */
	CHECK_EQ_INT(api_list_page(c, NULL, 0, 1, 10, &page, &e), -EACCES);
	CHECK_EQ_INT(e.err, -EACCES);
	CHECK(e.when != 0);
	api_client_free(c);
}

static int list(struct api_client *c, struct api_result *r, struct err_info *e)
{
	static const struct sign_kv filters[] = { { "ResourceId", "ALL" } };

	memset(e, 0, sizeof(*e));
	return api_list_instances(c, filters, N(filters), r, e);
}

TEST(paging_complete_walks)
{
	struct api_result r;
	struct err_info e;
	char ids[4096];
	static const struct {
		int n, ps, parallel, requests;
	} cases[] = {
		{ 5, 2, 1, 3 }, { 4, 2, 1, 2 }, { 1, 2, 1, 1 }, { 0, 2, 1, 1 },
		{ 23, 3, 4, 8 }, { 40, 2, 8, 20 }, { 6, 2, 16, 3 },
	};

	if (!need_creds())
		return;
	for (size_t k = 0; k < N(cases); k++) {
		struct fake *f = fake_start();
		struct api_client *c;
		int n;

		fake_fleet(f, cases[k].n, cases[k].ps);
		c = client_for(f, cases[k].ps, cases[k].parallel, 0);
		CHECK_EQ_INT(list(c, &r, &e), 0);
		n = ids_of(r.instances, ids, sizeof(ids));
		CHECK_EQ_INT(n, cases[k].n);
		for (int i = 0; i < n; i++) {
			char want[16];

			snprintf(want, sizeof(want), "i%02d", i);
			CHECK(!strcmp(cJSON_GetArrayItem(r.instances, i)->child->valuestring, want));
		}
		CHECK_EQ_INT(r.total_count, cases[k].n);
		CHECK_EQ_INT(r.requests, cases[k].requests);
		CHECK_EQ_INT(r.pages, cases[k].requests);
		CHECK_EQ_INT(f->nreq, cases[k].requests);
		api_result_free(&r);
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(paging_total_reached_on_full_page)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char ids[256];

	if (!need_creds())
		return;
	/* TotalCount says 2 and page 1 has 2: no second request even though it was full */
	f = fake_start();
	fake_page(f, 1, 2, "a,b");
	fake_page(f, 2, 2, "c,d");
	c = client_for(f, 2, 1, 0);
	CHECK_EQ_INT(list(c, &r, &e), 0);
	ids_of(r.instances, ids, sizeof(ids));
	CHECK_EQ_STR(ids, "a,b");
	CHECK_EQ_INT(f->nreq, 1);
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);
}

TEST(paging_dedup_within_page)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char ids[256];

	if (!need_creds())
		return;
	f = fake_start();
	fake_page(f, 1, 3, "a,b,a,c");
	c = client_for(f, 4, 1, 0);
	CHECK_EQ_INT(list(c, &r, &e), 0);
	ids_of(r.instances, ids, sizeof(ids));
	CHECK_EQ_STR(ids, "a,b,c");
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);
}

TEST(paging_drift_once_restarts)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char ids[256], *drifted;

	if (!need_creds())
		return;
	f = fake_start();
	fake_fleet(f, 5, 2);
	/* the first request for page 2 sees a grown fleet */
	drifted = page_body(6, "new,c");
	f->seq[1] = (struct reply){ 200, drifted };
	c = client_for(f, 2, 1, 0);
	CHECK_EQ_INT(list(c, &r, &e), 0);
	ids_of(r.instances, ids, sizeof(ids));
	CHECK_EQ_STR(ids, "i00,i01,i02,i03,i04");
	CHECK_EQ_INT(f->nreq, 2 + 3); /* walk 1 stopped at the drift, walk 2 complete */
	CHECK_EQ_INT(r.requests, 5);
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);
	free(drifted);
}

TEST(paging_persistent_drift_fails)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;

	if (!need_creds())
		return;
	f = fake_start();
	fake_fleet(f, 5, 2);
	fake_page(f, 2, 7, "i02,i03"); /* page 2 always disagrees with page 1 */
	c = client_for(f, 2, 1, 0);
	CHECK_EQ_INT(list(c, &r, &e), -EAGAIN);
	CHECK(r.instances == NULL);
	CHECK_EQ_INT(e.err, -EAGAIN);
	CHECK(strstr(e.message, "TotalCount changed from 5 to 7") != NULL);
	CHECK_EQ_STR(e.query, "ResourceId=ALL");
	CHECK_EQ_INT(f->nreq, 6);
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);
}

TEST(paging_overlap_and_short_pages_fail)
{
	struct api_result r;
	struct err_info e;

	if (!need_creds())
		return;
	{
		/* page 2 repeats b: a shifted list, c is missed */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_page(f, 1, 4, "a,b");
		fake_page(f, 2, 4, "b,c");
		c = client_for(f, 2, 1, 0);
		CHECK_EQ_INT(list(c, &r, &e), -EAGAIN);
		CHECK(r.instances == NULL);
		CHECK(strstr(e.message, "repeated") || strstr(e.message, "distinct"));
		CHECK_EQ_INT(f->nreq, 6);
		api_client_free(c);
		fake_stop(f);
	}
	{
		/* a short page before TotalCount is reached (a server capping PageSize) */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_page(f, 1, 5, "a,b");
		fake_page(f, 2, 5, "c");
		fake_page(f, 3, 5, "d,e");
		c = client_for(f, 2, 1, 0);
		CHECK_EQ_INT(list(c, &r, &e), -EAGAIN);
		CHECK(r.instances == NULL);
		CHECK(strstr(e.message, "page 2 returned fewer than 2") != NULL);
		CHECK_EQ_INT(f->nreq, 6); /* page 3 never asked for */
		api_client_free(c);
		fake_stop(f);
	}
	/* a short first page is a PageSize cap now: paging_page_size_cap */
	{
		/* TotalCount 3 on a page of zero */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_page(f, 1, 3, "");
		c = client_for(f, 5, 1, 0);
		CHECK_EQ_INT(list(c, &r, &e), -EAGAIN);
		CHECK(strstr(e.message, "only 0 distinct") != NULL);
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(paging_page_failure_fails_all)
{
	struct api_result r;
	struct err_info e;

	if (!need_creds())
		return;
	for (int parallel = 1; parallel <= 4; parallel += 3) {
		struct fake *f = fake_start();
		struct api_client *c;

		fake_fleet(f, 10, 2);
		free(f->pages[4]);
		f->pages[4] = strdup("{\"Code\":\"ValidationError\",\"Message\":\"no\","
				     "\"RequestId\":\"R4\"}");
		c = client_for(f, 2, parallel, 3);
		/* a 200 carrying an error Code on page 4 fails the whole listing */
		CHECK_EQ_INT(list(c, &r, &e), -EINVAL);
		CHECK(r.instances == NULL);
		CHECK_EQ_STR(e.code, "ValidationError");
		api_client_free(c);
		fake_stop(f);
	}
	for (int parallel = 1; parallel <= 4; parallel += 3) {
		struct fake *f = fake_start();
		struct api_client *c;

		fake_fleet(f, 10, 2);
		c = client_for(f, 2, parallel, 3);
		for (size_t i = 0; i < N(f->seq); i++)
			f->seq[i] = (struct reply){ 0, NULL };
		/* every request after the first fails with a non-retryable error */
		for (size_t i = 1; i < N(f->seq); i++)
			f->seq[i] = (struct reply){ 400, "{\"Code\":\"ValidationError\",\"Message\""
							 ":\"bad page\",\"RequestId\":\"R4\"}" };
		CHECK_EQ_INT(list(c, &r, &e), -EINVAL);
		CHECK(r.instances == NULL);
		CHECK_EQ_STR(e.code, "ValidationError");
		CHECK_EQ_STR(e.request_id, "R4");
		CHECK_EQ_INT(e.http_status, 400);
		CHECK_EQ_INT(e.attempts, 1);
		CHECK_EQ_STR(e.query, "ResourceId=ALL");
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(retries_then_success_and_give_up)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	int64_t retries0, thr0;

	if (!need_creds())
		return;
	f = fake_start();
	fake_fleet(f, 4, 2);
	f->seq[1] = (struct reply){ 503, "{\"Code\":\"ServiceUnavailableTemporary\"}" };
	f->seq[2] = (struct reply){ 400, "{\"Code\":\"Throttling.User\",\"Message\":\"slow\"}" };
	retries0 = stats_get(STATS_API_RETRIES);
	thr0 = stats_get(STATS_API_THROTTLED);
	c = client_for(f, 2, 1, 2);
	CHECK_EQ_INT(list(c, &r, &e), 0);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), 4);
	CHECK_EQ_INT(r.requests, 4);
	CHECK_EQ_INT(r.pages, 2);
	CHECK_EQ_INT(stats_get(STATS_API_RETRIES) - retries0, 2);
	CHECK_EQ_INT(stats_get(STATS_API_THROTTLED) - thr0, 1);
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);

	f = fake_start();
	for (size_t i = 0; i < N(f->seq); i++)
		f->seq[i] = (struct reply){ 503, "{\"Code\":\"ServiceUnavailableTemporary\","
						 "\"Message\":\"down\",\"RequestId\":\"RQ\"}" };
	c = client_for(f, 2, 1, 3);
	CHECK_EQ_INT(list(c, &r, &e), -EIO);
	CHECK_EQ_INT(e.attempts, 4);
	CHECK_EQ_INT(f->nreq, 4);
	CHECK_EQ_INT(e.http_status, 503);
	CHECK_EQ_STR(e.code, "ServiceUnavailableTemporary");
	CHECK_EQ_STR(e.message, "down");
	CHECK(e.when != 0);
	api_client_free(c);
	fake_stop(f);
}

TEST(body_cap_and_malformed)
{
	struct fake *f;
	struct api_client *c;
	struct api_config cfg = { .max_body = 1000, .max_retries = 2, .backoff_base_ms = 1 };
	struct api_result r;
	struct err_info e;
	char ep[64], *big;

	if (!need_creds())
		return;
	f = fake_start();
	big = malloc(5000);
	memset(big, ' ', 4999);
	big[4999] = '\0';
	memcpy(big, "{\"TotalCount\":0}", 16);
	f->seq[0] = (struct reply){ 200, big };
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	cfg.endpoint = ep;
	CHECK_EQ_INT(api_client_new(&cfg, get_creds(), &c, &e), 0);
	CHECK_EQ_INT(list(c, &r, &e), -EFBIG);
	CHECK_EQ_INT(e.attempts, 1); /* not retried */
	CHECK(strstr(e.message, "1000") != NULL);
	CHECK_EQ_INT(f->nreq, 1);

	/* malformed bodies are retried, then reported */
	for (size_t i = 0; i < N(f->seq); i++)
		f->seq[i] = (struct reply){ 200, "{\"TotalCount\":\"3\",\"Instances\":[]}" };
	CHECK_EQ_INT(list(c, &r, &e), -EBADMSG);
	CHECK_EQ_INT(e.attempts, 3);
	CHECK(strstr(e.message, "TotalCount is a string") != NULL);
	api_client_free(c);
	fake_stop(f);
	free(big);
}

TEST(connection_refused)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char buf[1024];

	if (!need_creds())
		return;
	f = fake_start();
	c = client_for(f, 2, 1, 1);
	/* close the listener: nothing listens on the port any more */
	fake_stop(f);
	f = NULL;
	CHECK_EQ_INT(list(c, &r, &e), -ECONNREFUSED);
	CHECK_EQ_INT(e.attempts, 2);
	CHECK(e.curl_code != 0);
	CHECK(e.message[0] != '\0');
	err_format(&e, buf, sizeof(buf));
	CHECK(strstr(buf, "ResourceId=ALL: curl error 7 ") != NULL);
	api_client_free(c);
}

TEST(probe)
{
	struct fake *f;
	struct api_client *c;
	struct err_info e;

	if (!need_creds())
		return;
	f = fake_start();
	fake_page(f, 1, 1, "a");
	c = client_for(f, 50, 1, 0);
	CHECK_EQ_INT(api_probe(c, NULL, 0, &e), 0);
	CHECK_EQ_INT(query_int(f->reqs[0], "PageSize"), 1);
	CHECK_EQ_INT(query_int(f->reqs[0], "PageNumber"), 1);
	api_client_free(c);
	fake_stop(f);
}

/* A throwaway self-signed CA: loading it instead of the system bundle keeps this test fast
 * under valgrind, and exercises ca_file. */
static const char test_ca[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBhzCCAS2gAwIBAgIUTq/720SpZ43LX2kel+NSG47SAOwwCgYIKoZIzj0EAwIw\n"
	"GDEWMBQGA1UEAwwNZHN3ZnMtdGVzdC1jYTAgFw0yNjExMjcwNzU2MDhaGA8yMTI2\n"
	"MTEwMzA3NTYwOFowGDEWMBQGA1UEAwwNZHN3ZnMtdGVzdC1jYTBZMBMGByqGSM49\n"
	"AgEGCCqGSM49AwEHA0IABCq4loTur276ejlFbPlA6ptvkXDbkMT/gKNWcT91syar\n"
	"bN+pXFvbblYlUKsSfDBbglYKsk7nT2DWGFvURowh7/CjUzBRMB0GA1UdDgQWBBQE\n"
	"Txya+ja7B8kMhaPa6SoKPCtnezAfBgNVHSMEGDAWgBQETxya+ja7B8kMhaPa6SoK\n"
	"PCtnezAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCICPciGJhAAPu\n"
	"wZAXf7tBgsFqUfTbjnDvwZgIm8xUJOEjAiEA0W6MT3it0NtHWuBVIFdzF/27IZfV\n"
	"/D+u1sFpxWftIIc=\n"
	"-----END CERTIFICATE-----\n";

TEST(tls_to_plain_server_is_eproto)
{
	struct fake *f;
	struct api_client *c = NULL;
	struct api_config cfg = { .max_retries = 3, .backoff_base_ms = 1, .timeout_ms = 3000 };
	struct api_result r;
	struct err_info e;
	char ep[64], ca[] = "/tmp/test_api_ca.XXXXXX";
	int fd = mkstemp(ca);

	if (!need_creds())
		return;
	CHECK(fd >= 0 && write(fd, test_ca, strlen(test_ca)) == (ssize_t)strlen(test_ca));
	close(fd);
	f = fake_start();
	fake_page(f, 1, 0, "");
	snprintf(ep, sizeof(ep), "https://127.0.0.1:%d", f->port);
	cfg.endpoint = ep;
	cfg.ca_file = ca;
	CHECK_EQ_INT(api_client_new(&cfg, get_creds(), &c, &e), 0);
	CHECK_EQ_INT(list(c, &r, &e), -EPROTO);
	CHECK_EQ_INT(e.attempts, 1); /* TLS failures are not retried */
	CHECK(e.curl_code != 0);
	api_client_free(c);
	fake_stop(f);
	unlink(ca);
}

TEST(sts_token_headers_signed)
{
	struct fake *f;
	struct api_client *c = NULL;
	struct creds_provider *sts = NULL;
	struct creds_options o = { .ecs_role = false };
	struct api_config cfg = { 0 };
	struct err_info e;
	char ep[64], err[256], v[1024], line[2048];
	cJSON *page = NULL;

	if (!need_creds())
		return;
	setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "sts-token/with+chars==", 1);
	CHECK_EQ_INT(creds_provider_new(&o, &sts, err, sizeof(err)), 0);
	f = fake_start();
	fake_page(f, 1, 0, "");
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	cfg.endpoint = ep;
	CHECK_EQ_INT(api_client_new(&cfg, sts, &c, &e), 0);
	CHECK_EQ_INT(api_list_page(c, NULL, 0, 1, 10, &page, &e), 0);
	unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
	cJSON_Delete(page);
	CHECK(header_of(f->reqs[0], "x-acs-security-token", v, sizeof(v)) &&
	      !strcmp(v, "sts-token/with+chars=="));
	CHECK(header_of(f->reqs[0], "x-acs-accesskey-id", v, sizeof(v)) &&
	      !strcmp(v, "TESTKEYID"));
	CHECK(header_of(f->reqs[0], "authorization", line, sizeof(line)));
	CHECK(strstr(line, "SignedHeaders=host;x-acs-accesskey-id;x-acs-action;"
			   "x-acs-content-sha256;x-acs-date;x-acs-security-token;"
			   "x-acs-signature-nonce;x-acs-version,") != NULL);
	api_client_free(c);
	creds_provider_free(sts);
	fake_stop(f);
}

TEST(connections_reused)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;

	if (!need_creds())
		return;
	f = fake_start();
	f->keepalive = true;
	fake_fleet(f, 9, 2);
	c = client_for(f, 2, 1, 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(list(c, &r, &e), 0);
		CHECK_EQ_INT(cJSON_GetArraySize(r.instances), 9);
		api_result_free(&r);
	}
	/* twenty requests, one connection: the pooled handle keeps it between calls */
	CHECK_EQ_INT(f->nreq, 20);
	CHECK_EQ_INT(__atomic_load_n(&f->accepts, __ATOMIC_RELAXED), 1);
	api_client_free(c);
	fake_stop(f);
}

/* ---------------------------------------------------------------- hostile servers (issue 7) */

TEST(parse_bad_ids)
{
	struct err_info e;
	cJSON *page = NULL, *list;
	char ids[256];
	int skipped = -1;

	/* numbers become strings; everything without a usable id is left out and counted */
	static const char body[] = "{\"TotalCount\":11,\"Instances\":["
				   "{\"InstanceId\":\"\"},{\"InstanceId\":12345678901},"
				   "{\"InstanceId\":null},{\"InstanceName\":\"no id\"},"
				   "{\"InstanceId\":\"ok\"},{\"InstanceId\":{\"a\":1}},"
				   "{\"InstanceId\":true},{\"InstanceId\":[\"x\"]},\"dsw-str\",null,"
				   "{\"InstanceId\":-2.5e0}]}";

	memset(&e, 0, sizeof(e));
	CHECK_EQ_INT(api_parse_page(body, strlen(body), 200, NULL, &page, &skipped, &e), 0);
	CHECK_EQ_INT(skipped, 8);
	CHECK(strstr(e.message, "Instances[0] skipped: its InstanceId is empty") != NULL);
	CHECK_EQ_INT(e.err, 0);
	list = cJSON_GetObjectItem(page, "Instances");
	ids_of(list, ids, sizeof(ids));
	CHECK_EQ_STR(ids, "12345678901,ok,-2.5");
	cJSON_Delete(page);
	/* a clean page says nothing */
	memset(&e, 0, sizeof(e));
	CHECK_EQ_INT(api_parse_page(good_page, strlen(good_page), 200, NULL, &page, &skipped, &e),
		     0);
	CHECK_EQ_INT(skipped, 0);
	CHECK_EQ_STR(e.message, "");
	cJSON_Delete(page);
}

TEST(parse_nul_never_cuts_an_id)
{
	/* \\u0000 with an escaped backslash before it is text, not a NUL */
	static const char body[] =
		"{\"TotalCount\":4,\"Instances\":[{\"InstanceId\":\"a\\u0000x\"},"
		"{\"InstanceId\":\"a\\u0000y\",\"InstanceName\":\"n\\u0000\\u0000\"},"
		"{\"InstanceId\":\"a\\\\u0000z\"},{\"InstanceId\":\"b\\\\\\u0000\"}],"
		"\"Note\":\"\\\\\\\\u0000\"}";
	char out[RENDER_NAME_MAX];
	struct err_info e;
	cJSON *page = NULL, *list;

	memset(&e, 0, sizeof(e));
	CHECK_EQ_INT(api_parse_page(body, strlen(body), 200, NULL, &page, NULL, &e), 0);
	if (!page)
		return;
	list = cJSON_GetObjectItem(page, "Instances");
	CHECK_EQ_STR(cJSON_GetArrayItem(list, 0)->child->valuestring, "a\xC0\x80x");
	CHECK_EQ_STR(cJSON_GetArrayItem(list, 1)->child->valuestring, "a\xC0\x80y");
	CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "InstanceName")->valuestring,
		     "n\xC0\x80\xC0\x80");
	CHECK_EQ_STR(cJSON_GetArrayItem(list, 2)->child->valuestring, "a\\u0000z");
	CHECK_EQ_STR(cJSON_GetArrayItem(list, 3)->child->valuestring, "b\\\xC0\x80");
	CHECK_EQ_STR(cJSON_GetObjectItem(page, "Note")->valuestring, "\\\\u0000");
	/* names escape the NUL like any control byte, so the two ids stay apart */
	render_escape_name(cJSON_GetArrayItem(list, 0)->child->valuestring, out);
	CHECK_EQ_STR(out, "a%00x");
	render_escape_name(cJSON_GetArrayItem(list, 1)->child->valuestring, out);
	CHECK_EQ_STR(out, "a%00y");
	render_escape_name("\xC0\x80", out);
	CHECK_EQ_STR(out, "%00");
	cJSON_Delete(page);
}

#define FAKE_SECRET "AKSsecretValue0123456789abcdef"

/* Whether text holds any 8-byte piece of FAKE_SECRET. */
static bool leaks_secret(const char *text)
{
	const char *sec = FAKE_SECRET;

	for (size_t i = 0; i + 8 <= strlen(sec); i++)
		if (memmem(text, strlen(text), sec + i, 8))
			return true;
	return false;
}

TEST(unparsed_bodies_are_never_quoted)
{
	static const char *const bodies[] = {
		"AccessKeySecret=" FAKE_SECRET "\n<html>Internal Server Error</html>",
		"{\"AccessKeySecret\":\"" FAKE_SECRET "\"",		/* cut JSON */
		"[\"" FAKE_SECRET "\"]",				/* not an object */
		"{\"TotalCount\":0} AccessKeySecret=" FAKE_SECRET,	/* trailing bytes */
	};
	static const int statuses[] = { 500, 200, 403, 404, 502 };

	for (size_t i = 0; i < N(bodies); i++)
		for (size_t k = 0; k < N(statuses); k++) {
			struct err_info e;
			cJSON *page = NULL;
			char want[32], line[2048];
			int rc;

			memset(&e, 0, sizeof(e));
			rc = api_parse_page(bodies[i], strlen(bodies[i]), statuses[k],
					    "text/plain; charset=" FAKE_SECRET, &page, NULL, &e);
			CHECK(rc < 0 && page == NULL);
			if (leaks_secret(e.message) || leaks_secret(e.code) ||
			    leaks_secret(e.request_id))
				tf_fail(__FILE__, __LINE__, "body %zu status %d leaks: %s", i,
					statuses[k], e.message);
			err_format_long(&e, line, sizeof(line));
			CHECK(!leaks_secret(line));
			snprintf(want, sizeof(want), "%zu bytes", strlen(bodies[i]));
			CHECK(strstr(e.message, want) != NULL);
			CHECK(strstr(e.message, "text/plain") != NULL);
		}
	{
		/* the parse error's position is given instead */
		struct err_info e;
		cJSON *page = NULL;

		memset(&e, 0, sizeof(e));
		CHECK_EQ_INT(api_parse_page("{\"a\":1,}", 8, 200, NULL, &page, NULL, &e), -EBADMSG);
		CHECK(strstr(e.message, "parse error at byte 7") != NULL);
	}
}

TEST(secret_error_body_through_the_client)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char line[2048];

	if (!need_creds())
		return;
	f = fake_start();
	f->ctype = "text/html";
	for (size_t i = 0; i < N(f->seq); i++)
		f->seq[i] = (struct reply){ 500, "<pre>AccessKeySecret: " FAKE_SECRET "</pre>" };
	c = client_for(f, 2, 1, 1);
	CHECK_EQ_INT(list(c, &r, &e), -EIO);
	CHECK(!leaks_secret(e.message));
	err_format_long(&e, line, sizeof(line));
	CHECK(!leaks_secret(line));
	CHECK(strstr(e.message, "HTTP 500") && strstr(e.message, "text/html"));
	CHECK_EQ_INT(e.attempts, 2);
	api_client_free(c);
	fake_stop(f);
}

TEST(paging_total_count_lie)
{
	struct api_result r;
	struct err_info e;
	char ids[512];

	if (!need_creds())
		return;
	for (int parallel = 1; parallel <= 4; parallel += 3) {
		/* 7 instances in pages of 2, TotalCount says 3: the pages contradict it */
		struct fake *f = fake_start();
		int64_t lies0 = stats_get(STATS_TOTAL_COUNT_LIES);
		struct api_client *c;

		fake_page(f, 1, 3, "i00,i01");
		fake_page(f, 2, 3, "i02,i03");
		fake_page(f, 3, 3, "i04,i05");
		fake_page(f, 4, 3, "i06");
		c = client_for(f, 2, parallel, 0);
		CHECK_EQ_INT(list(c, &r, &e), 0);
		ids_of(r.instances, ids, sizeof(ids));
		CHECK_EQ_STR(ids, "i00,i01,i02,i03,i04,i05,i06");
		CHECK_EQ_INT(f->nreq, 4);
		CHECK(r.total_lied);
		CHECK_EQ_INT(stats_get(STATS_TOTAL_COUNT_LIES) - lies0, 1);
		CHECK(strstr(r.warning, "TotalCount 3 is smaller than the 7") != NULL);
		/* the warning reaches the caller's err for last_error, with no errno */
		CHECK_EQ_INT(e.err, 0);
		CHECK_EQ_STR(e.message, r.warning);
		CHECK_EQ_STR(e.query, "ResourceId=ALL");
		api_result_free(&r);
		api_client_free(c);
		fake_stop(f);
	}
	{
		/* the first page alone holds more than TotalCount; the list ends on an empty page */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_page(f, 1, 1, "a,b");
		fake_page(f, 2, 1, "c,d");
		fake_page(f, 3, 1, "");
		c = client_for(f, 2, 4, 0);
		CHECK_EQ_INT(list(c, &r, &e), 0);
		ids_of(r.instances, ids, sizeof(ids));
		CHECK_EQ_STR(ids, "a,b,c,d");
		CHECK_EQ_INT(f->nreq, 3);
		CHECK(e.message[0] != '\0');
		api_result_free(&r);
		api_client_free(c);
		fake_stop(f);
	}
	{
		/* agreement: exactly ceil(TotalCount / page size), no probe past a full last page */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_fleet(f, 6, 2);
		c = client_for(f, 2, 4, 0);
		CHECK_EQ_INT(list(c, &r, &e), 0);
		CHECK_EQ_INT(cJSON_GetArraySize(r.instances), 6);
		CHECK_EQ_INT(f->nreq, 3);
		CHECK(!r.total_lied && !r.warning[0] && !e.message[0]);
		api_result_free(&r);
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(paging_page_size_cap)
{
	struct api_result r;
	struct err_info e;
	char ids[512];

	if (!need_creds())
		return;
	for (int parallel = 1; parallel <= 4; parallel += 3) {
		/* asked for 5, the server gives 2 a page (the fake serves by page number) */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_fleet(f, 7, 2);
		c = client_for(f, 5, parallel, 0);
		CHECK_EQ_INT(list(c, &r, &e), 0);
		ids_of(r.instances, ids, sizeof(ids));
		CHECK_EQ_STR(ids, "i00,i01,i02,i03,i04,i05,i06");
		CHECK_EQ_INT(r.page_size, 2);
		CHECK_EQ_INT(f->nreq, 4);
		CHECK_EQ_INT(f->size_of[0], 5);
		for (int i = 1; i < 4; i++)
			CHECK_EQ_INT(f->size_of[i], 2);
		CHECK(!e.message[0]);
		api_result_free(&r);
		api_client_free(c);
		fake_stop(f);
	}
	{
		/* "short" is then shorter than the cap: a gap is still caught */
		struct fake *f = fake_start();
		struct api_client *c;

		fake_page(f, 1, 6, "a,b");
		fake_page(f, 2, 6, "c");
		fake_page(f, 3, 6, "d,e");
		c = client_for(f, 5, 1, 0);
		CHECK_EQ_INT(list(c, &r, &e), -EAGAIN);
		CHECK(strstr(e.message, "page 2 returned fewer than 2") != NULL);
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(paging_repeated_page_fails_at_once)
{
	struct api_result r;
	struct err_info e;

	if (!need_creds())
		return;
	for (int parallel = 1; parallel <= 4; parallel += 3) {
		/* PageNumber ignored: page 1 for every page, TotalCount promising 1000 pages */
		struct fake *f = fake_start();
		struct api_client *c;

		f->every = page_body(2000, "a,b");
		c = client_for(f, 2, parallel, 0);
		CHECK_EQ_INT(list(c, &r, &e), -EPROTO);
		CHECK(r.instances == NULL);
		CHECK(strstr(e.message, "returned page 1 again as page") != NULL);
		CHECK_EQ_INT(e.err, -EPROTO);
		CHECK_EQ_STR(e.query, "ResourceId=ALL");
		/* only the pages already in flight when the repeat arrived */
		CHECK(f->nreq >= 2 && f->nreq <= 1 + parallel);
		api_client_free(c);
		fake_stop(f);
	}
}

TEST(paging_walk_byte_cap)
{
	struct api_config cfg = { .page_size = 2, .parallel_pages = 2, .max_walk_bytes = 600 };
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	struct fake *f;
	char ep[64];

	if (!need_creds())
		return;
	/* a fleet of 40 in pages of about 130 bytes: the fifth page crosses 600 */
	f = fake_start();
	fake_fleet(f, 40, 2);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	cfg.endpoint = ep;
	CHECK_EQ_INT(api_client_new(&cfg, get_creds(), &c, &e), 0);
	CHECK_EQ_INT(list(c, &r, &e), -EFBIG);
	CHECK(r.instances == NULL);
	CHECK(strstr(e.message, "max_walk_mb") != NULL);
	CHECK(f->nreq < 10);
	api_client_free(c);
	fake_stop(f);
}

TEST(paging_bad_ids_list_the_rest)
{
	struct fake *f;
	struct api_client *c;
	struct api_result r;
	struct err_info e;
	char ids[512];
	int64_t skipped0;

	if (!need_creds())
		return;
	f = fake_start();
	/* TotalCount counts the bad ones too: 5 sent, 3 usable, nothing missing */
	f->pages[1] = strdup("{\"TotalCount\":5,\"Instances\":[{\"InstanceId\":\"\"},"
			     "{\"InstanceId\":7},{\"InstanceId\":null},{\"InstanceId\":\"a\\u0000x\"},"
			     "{\"InstanceId\":\"a\\u0000y\"}]}");
	c = client_for(f, 10, 1, 0);
	skipped0 = stats_get(STATS_INSTANCES_SKIPPED);
	CHECK_EQ_INT(list(c, &r, &e), 0);
	CHECK_EQ_INT(stats_get(STATS_INSTANCES_SKIPPED) - skipped0, 2);
	CHECK_EQ_INT(cJSON_GetArraySize(r.instances), 3);
	ids_of(r.instances, ids, sizeof(ids));
	CHECK_EQ_STR(ids, "7,a\xC0\x80x,a\xC0\x80y");
	CHECK_EQ_INT(r.skipped, 2);
	CHECK(strstr(r.warning, "2 instance(s) without a usable InstanceId") != NULL);
	CHECK(strstr(e.message, "Instances[0] skipped") != NULL);
	CHECK_EQ_INT(e.err, 0);
	api_result_free(&r);
	api_client_free(c);
	fake_stop(f);
}

/* A loopback server that accepts connections and never answers. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

struct abort_call {
	struct api_client *c;
	int rc;
	struct err_info err;
	struct timespec done_at;
	int done;
};

static void *abort_call_main(void *p)
{
	struct abort_call *a = p;
	struct sign_kv f[1] = { { "WorkspaceId", "ALL" } };

	a->rc = api_probe(a->c, f, 1, &a->err);
	clock_gettime(CLOCK_MONOTONIC, &a->done_at);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

TEST(abort_ends_a_request_to_a_silent_server_at_once)
{
	char ep[64];
	struct api_config cfg = {
		.endpoint = ep, .max_retries = 3, .backoff_base_ms = 1000, .backoff_max_ms = 30000,
		.connect_timeout_ms = 30000, .timeout_ms = 60000,
	};
	struct abort_call a = { .rc = 1 };
	struct api_client *c = NULL;
	struct timespec t0, t1;
	struct err_info e;
	pthread_t th;
	int port = 0, lfd, cfd;

	if (!need_creds())
		return;
	lfd = silent_listener(&port);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	CHECK_EQ_INT(api_client_new(&cfg, get_creds(), &c, &e), 0);
	if (!c) {
		close(lfd);
		return;
	}
	a.c = c;
	CHECK_EQ_INT(pthread_create(&th, NULL, abort_call_main, &a), 0);
	/* The request's connection arrives: the transfer is now waiting for an answer. */
	cfd = accept(lfd, NULL, NULL);
	CHECK(cfd >= 0);
	CHECK(!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	api_client_abort(c);
	pthread_join(th, NULL);
	CHECK_EQ_INT(a.rc, -ECANCELED);
	CHECK_EQ_INT(a.err.err, -ECANCELED);
	CHECK(strstr(a.err.message, "shutting down") != NULL);
	CHECK(ts_diff(&t0, &a.done_at) < 1.0);
	/* Later requests fail at once, without connecting. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	a.done = 0;
	abort_call_main(&a);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ_INT(a.rc, -ECANCELED);
	CHECK(ts_diff(&t0, &t1) < 1.0);
	if (cfd >= 0)
		close(cfd);
	api_client_free(c);
	close(lfd);
}

TEST(abort_cuts_a_retry_back_off_short)
{
	char ep[64];
	struct api_config cfg = {
		.endpoint = ep, .max_retries = 5, .backoff_base_ms = 20000, .backoff_max_ms = 30000,
		.connect_timeout_ms = 30000, .timeout_ms = 60000,
	};
	struct abort_call a = { .rc = 1 };
	struct api_client *c = NULL;
	struct timespec t0;
	struct err_info e;
	pthread_t th;
	int port = 0, lfd, cfd;

	if (!need_creds())
		return;
	stats_reset();
	lfd = silent_listener(&port);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	CHECK_EQ_INT(api_client_new(&cfg, get_creds(), &c, &e), 0);
	if (!c) {
		close(lfd);
		return;
	}
	a.c = c;
	CHECK_EQ_INT(pthread_create(&th, NULL, abort_call_main, &a), 0);
	/* The first attempt is reset: a retryable failure, then a long back-off. */
	cfd = accept(lfd, NULL, NULL);
	CHECK(cfd >= 0);
	if (cfd >= 0) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(cfd);
	}
	/* Poll (bounded) until the request counter says the attempt was made. */
	for (int i = 0; i < 5000 && stats_get(STATS_API_RETRIES) < 1; i++)
		usleep(1000);
	CHECK(stats_get(STATS_API_RETRIES) >= 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	api_client_abort(c);
	pthread_join(th, NULL);
	CHECK_EQ_INT(a.rc, -ECANCELED);
	CHECK(ts_diff(&t0, &a.done_at) < 1.0);
	api_client_free(c);
	close(lfd);
}
