/* test_metrics: Prometheus text: escaping, counters from stats, fleet gauges and sums. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "metrics.h"
#include "snap.h"
#include "stats.h"
#include "tf.h"

static double q(const char *json, int memory)
{
	cJSON *v = cJSON_Parse(json);
	double x = metrics_quantity(v, memory);

	cJSON_Delete(v);
	return x;
}

TEST(quantities)
{
	CHECK(q("\"4\"", 0) == 4);
	CHECK(q("\"0.5\"", 0) == 0.5);
	CHECK(q("\"500m\"", 0) == 0.5);
	CHECK(q("2", 0) == 2);
	CHECK(q("\"4Gi\"", 0) == -1);
	CHECK(q("\"x\"", 0) == -1);
	CHECK(q("\"-1\"", 0) == -1);
	CHECK(q("\"\"", 0) == -1);
	CHECK(q("null", 0) == -1);
	CHECK(q("\"32Gi\"", 1) == 32.0 * 1073741824.0);
	CHECK(q("\"512Mi\"", 1) == 512.0 * 1048576.0);
	CHECK(q("\"2G\"", 1) == 2e9);
	CHECK(q("\"8\"", 1) == 8.0 * 1073741824.0);
	CHECK(q("8", 1) == 8.0 * 1073741824.0);
	CHECK(q("\"8Qi\"", 1) == -1);
	CHECK(q("\"1e400\"", 0) == -1);
}

TEST(samples_escape_label_values)
{
	struct buf b;
	const char *labels[] = { "a", "x\"y\\z\nw", "b", "" };
	char *text;

	buf_init(&b, 1 << 16);
	CHECK_EQ_INT(metrics_family(&b, "m", "gauge", "help"), 0);
	CHECK_EQ_INT(metrics_sample(&b, "m", labels, 2, 1.5), 0);
	CHECK_EQ_INT(metrics_sample(&b, "m", NULL, 0, 3), 0);
	text = buf_steal(&b, NULL);
	CHECK_EQ_STR(text, "# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 1.5\nm 3\n");
	free(text);
}

TEST(stats_become_counters_and_gauges)
{
	struct buf b;
	char *text;

	stats_reset();
	stats_add(STATS_API_REQUESTS, 7);
	stats_set(STATS_CACHE_ENTRIES, 3);
	buf_init(&b, 1 << 20);
	CHECK_EQ_INT(metrics_stats(&b), 0);
	text = buf_steal(&b, NULL);
	CHECK(strstr(text, "# TYPE dswfs_api_requests_total counter\ndswfs_api_requests_total 7\n"));
	CHECK(strstr(text, "# TYPE dswfs_cache_entries gauge\ndswfs_cache_entries 3\n"));
	CHECK(strstr(text, "dswfs_events_total 0\n"));
	free(text);
	stats_reset();
}

TEST(fleet_counts_and_sums)
{
	const char *json =
		"[{\"InstanceId\":\"a\",\"WorkspaceId\":\"1\",\"Status\":\"Running\","
		"\"AcceleratorType\":\"GPU\",\"PaymentType\":\"PayAsYouGo\","
		"\"RequestedResource\":{\"CPU\":\"4\",\"GPU\":\"1\",\"Memory\":\"16Gi\"}},"
		"{\"InstanceId\":\"b\",\"WorkspaceId\":1,\"Status\":\"Running\","
		"\"AcceleratorType\":\"GPU\",\"PaymentType\":\"PayAsYouGo\","
		"\"RequestedResource\":{\"CPU\":\"500m\",\"GPU\":\"2\",\"Memory\":\"512Mi\"}},"
		"{\"InstanceId\":\"c\",\"WorkspaceId\":\"2\",\"Status\":\"Failed\"},"
		"{\"InstanceId\":\"d\",\"WorkspaceId\":\"1\",\"Status\":\"Running\","
		"\"AcceleratorType\":\"CPU\",\"PaymentType\":\"Subscription\","
		"\"RequestedResource\":{\"CPU\":\"bogus\"}}]";
	struct snap *s = NULL;
	struct buf b;
	char *text;

	CHECK_EQ_INT(snap_new(cJSON_Parse(json), false, 1, &s), 0);
	buf_init(&b, 1 << 20);
	CHECK_EQ_INT(metrics_fleet(&b, s, "cn-q"), 0);
	text = buf_steal(&b, NULL);
	CHECK(strstr(text, "dswfs_instances{region=\"cn-q\",workspace_id=\"1\",status=\"Running\","
			   "accelerator_type=\"GPU\",payment_type=\"PayAsYouGo\"} 2\n"));
	CHECK(strstr(text, "dswfs_instances{region=\"cn-q\",workspace_id=\"1\",status=\"Running\","
			   "accelerator_type=\"CPU\",payment_type=\"Subscription\"} 1\n"));
	CHECK(strstr(text, "dswfs_instances{region=\"cn-q\",workspace_id=\"2\",status=\"Failed\","
			   "accelerator_type=\"\",payment_type=\"\"} 1\n"));
	CHECK(strstr(text, "dswfs_requested_cpu_cores{region=\"cn-q\",workspace_id=\"1\","
			   "status=\"Running\"} 4.5\n"));
	CHECK(strstr(text, "dswfs_requested_gpus{region=\"cn-q\",workspace_id=\"1\","
			   "status=\"Running\"} 3\n"));
	CHECK(strstr(text, "dswfs_requested_memory_bytes{region=\"cn-q\",workspace_id=\"1\","
			   "status=\"Running\"} 17716740096\n"));
	CHECK(strstr(text, "dswfs_requested_gpus{region=\"cn-q\",workspace_id=\"2\","
			   "status=\"Failed\"} 0\n"));
	free(text);
	snap_unref(s);
}
