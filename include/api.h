/* api: the PAI-DSW ListInstances client: signed requests, paging, retries, one errno mapping. */
#ifndef DSWFS_API_H
#define DSWFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "creds.h"
#include "err.h"
#include "sign.h"

struct api_config {
	const char *endpoint;		/* "https://pai-dsw.cn-hangzhou.aliyuncs.com" or, loopback
					 * only, "http://127.0.0.1:8080"; no trailing path */
	long connect_timeout_ms;	/* 0 = 5000 */
	long timeout_ms;		/* whole request; 0 = 30000 */
	int max_retries;		/* retries after the first attempt; <0 = 0, default set by caller */
	long backoff_base_ms;		/* first backoff; 0 = 200; doubles, with full jitter */
	long backoff_max_ms;		/* 0 = 5000 */
	size_t max_body;		/* response cap; 0 = 64 MiB */
	int page_size;			/* 0 = 100 */
	int parallel_pages;		/* pages fetched at once after the first; 0 or 1 = serial */
	size_t max_walk_bytes;		/* response bytes one listing may hold; 0 = 2 GiB (fits a
					 * 100,000-instance fleet); -EFBIG beyond */
	const char *ca_file;		/* extra CA bundle, NULL = system default (peers always verified) */
	const char *user_agent;		/* NULL = "dswfs/<version>" */
	/* Told after each page of a listing arrives: pages fetched so far of the pages
	 * TotalCount implies (done == total at the end of every walk, failed or not). Called
	 * from any thread, several walks at once; NULL = nobody asks. */
	void (*progress)(void *ctx, int pages_done, int pages_total);
	void *progress_ctx;
};

struct api_client;

/* Checks the endpoint (https://, or http:// only for 127.0.0.0/8, ::1 and localhost) and sets up
 * connection sharing. The client borrows creds (must outlive it). Returns 0 and *out (free with
 * api_client_free), -EINVAL for a bad endpoint (reason in err->message), -ENOMEM. */
int api_client_new(const struct api_config *cfg, struct creds_provider *creds,
		   struct api_client **out, struct err_info *err);

void api_client_free(struct api_client *c);

/* Makes every transfer in progress and every later one fail at once with -ECANCELED (err says
 * dswfs is shutting down), and cuts retry back-offs short: for shutdown, so a fetch stalled on
 * a silent server does not hold the daemon. Thread-safe (not async-signal-safe); permanent. */
void api_client_abort(struct api_client *c);

/* A complete ListInstances answer. */
struct api_result {
	cJSON *instances;	/* owned: a JSON array of the instances' full objects, deduplicated
				 * by InstanceId, in the server's order */
	long total_count;	/* TotalCount of the last page */
	int pages;		/* pages fetched */
	int requests;		/* HTTP requests sent, retries included */
	int page_size;		/* PageSize paged with: the configured one, or the server's cap
				 * when it answered a full first page shorter than asked */
	int skipped;		/* instances left out: no usable InstanceId (see api_parse_page) */
	bool total_lied;	/* the pages held more instances than TotalCount announced */
	char warning[400];	/* "" or one line on what the listing had to work around (skipped
				 * instances, a TotalCount contradicted by the pages); also copied to
				 * *err, so the caller can record it for .dswfs/last_error */
};

/* Fetches every page of ListInstances with the given filters (raw values: the client encodes
 * them; PageNumber/PageSize are added by the client and must not be given). Pages until
 * TotalCount is reached: ceil(TotalCount / page size) requests when the pages agree with it.
 * When a first page comes back full but shorter than asked while TotalCount says more, its
 * length is taken as the server's PageSize cap and paging goes on with it. When the pages hold
 * more instances than TotalCount announced, TotalCount is not trusted: paging goes on until a
 * page shorter than the page size in use (or an empty one), and a warning says so. Restarts the
 * walk (bounded) when TotalCount changes under it; never returns a partial list as complete.
 * A page whose instances were all listed already (a server ignoring PageNumber) ends the walk
 * at once with -EPROTO ("page N repeats page M"); more than max_walk_bytes of responses in one
 * walk, or more than 100,000 pages, end it with -EFBIG. Memory is bounded by those two.
 * Thread-safe: many threads may call it on one client at once. Returns 0 and fills *out (free
 * with api_result_free); *err is then cleared, or holds out->warning as a message with err 0
 * (the caller records it: the listing is complete but the server misbehaved). Or -errno (see
 * err_map; -EBADMSG for an unparseable or wrongly typed body) with *err filled. */
int api_list_instances(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		       struct api_result *out, struct err_info *err);

/* One page, for tests and diagnostics: *page gets the whole parsed response body (owned by the
 * caller, cJSON_Delete). Same returns as api_list_instances. */
int api_list_page(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		  int page_number, int page_size, cJSON **page, struct err_info *err);

void api_result_free(struct api_result *r);

/* Parses and validates one response body (len bytes, need not be NUL-terminated) that arrived
 * with http_status and the Content-Type content_type (may be NULL; used in messages only);
 * exposed for tests and the fuzzer. A success must be a JSON object whose TotalCount is an
 * integral JSON number in 0..10^7 (a numeric string is refused: the API documents an integer)
 * and whose Instances is an array; a missing or null Instances is accepted only with
 * TotalCount 0 (it is then set to []). One bad instance never fails the page:
 *  - a numeric InstanceId is turned into a string ("123", integral numbers without a fraction);
 *  - an element that is not an object, or has no usable InstanceId (missing, empty, null, a
 *    boolean, array or object, a non-finite number), is removed and counted in *skipped (may
 *    be NULL); err->message then names the first one (and err->err stays 0).
 * So on success every element is an object with a non-empty string InstanceId.
 * A NUL inside a JSON string ("\u0000") would silently cut the C string cJSON decodes; it is
 * decoded instead as API_NUL_SENTINEL (the two bytes C0 80, the "modified UTF-8" NUL, never
 * valid UTF-8), which render_escape_name turns into "%00": ids differing after a NUL stay
 * distinct. No byte of a body that did not parse is ever copied into err: the message gives
 * the status, content type, length and the parse error's byte offset instead.
 * Returns 0 and *page (caller cJSON_Deletes), the err_map() result for an error answer (Code,
 * Message, RequestId copied to err), or -EBADMSG for an unparseable or wrongly typed body (the
 * reason in err->message). err may be NULL. */
#define API_NUL_SENTINEL "\xC0\x80"
int api_parse_page(const char *body, size_t len, int http_status, const char *content_type,
		   cJSON **page, int *skipped, struct err_info *err);

/* Quick reachability check used at mount time: one request for one instance. Same returns. */
int api_probe(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
	      struct err_info *err);

#endif
