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
	const char *ca_file;		/* extra CA bundle, NULL = system default (peers always verified) */
	const char *user_agent;		/* NULL = "dswfs/<version>" */
};

struct api_client;

/* Checks the endpoint (https://, or http:// only for 127.0.0.0/8, ::1 and localhost) and sets up
 * connection sharing. The client borrows creds (must outlive it). Returns 0 and *out (free with
 * api_client_free), -EINVAL for a bad endpoint (reason in err->message), -ENOMEM. */
int api_client_new(const struct api_config *cfg, struct creds_provider *creds,
		   struct api_client **out, struct err_info *err);

void api_client_free(struct api_client *c);

/* A complete ListInstances answer. */
struct api_result {
	cJSON *instances;	/* owned: a JSON array of the instances' full objects, deduplicated
				 * by InstanceId, in the server's order */
	long total_count;	/* TotalCount of the last page */
	int pages;		/* pages fetched */
	int requests;		/* HTTP requests sent, retries included */
};

/* Fetches every page of ListInstances with the given filters (raw values: the client encodes
 * them; PageNumber/PageSize are added by the client and must not be given). Follows pages until
 * TotalCount is reached or a page comes back short; restarts the walk (bounded) when TotalCount
 * changes under it; never returns a partial list as complete. Thread-safe: many threads may call
 * it on one client at once. Returns 0 and fills *out (free with api_result_free), or -errno (see
 * err_map; -EBADMSG for an unparseable or wrongly typed body) with *err filled. */
int api_list_instances(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		       struct api_result *out, struct err_info *err);

/* One page, for tests and diagnostics: *page gets the whole parsed response body (owned by the
 * caller, cJSON_Delete). Same returns as api_list_instances. */
int api_list_page(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		  int page_number, int page_size, cJSON **page, struct err_info *err);

void api_result_free(struct api_result *r);

/* Parses and validates one response body (len bytes, need not be NUL-terminated) that arrived
 * with http_status; exposed for tests and the fuzzer. A success must be a JSON object whose
 * TotalCount is an integral JSON number in 0..10^7 (a numeric string is refused: the API
 * documents an integer) and whose Instances is an array of objects each with a non-empty
 * string InstanceId; a missing or null Instances is accepted only with TotalCount 0 (it is
 * then set to []). Returns 0 and *page (caller cJSON_Deletes), the err_map() result for an
 * error answer (Code, Message, RequestId copied to err), or -EBADMSG for an unparseable or
 * wrongly typed body (the reason in err->message). err may be NULL. */
int api_parse_page(const char *body, size_t len, int http_status, cJSON **page,
		   struct err_info *err);

/* Quick reachability check used at mount time: one request for one instance. Same returns. */
int api_probe(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
	      struct err_info *err);

#endif
