/* metrics: the Prometheus text exposition format (0.0.4) behind .dswfs/metrics: the daemon's
 * counters and the fleet's gauges. Pure: no FUSE, no network, no clock. */
#ifndef DSWFS_METRICS_H
#define DSWFS_METRICS_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct buf;
struct snap;

/* "# HELP" and "# TYPE" lines of one metric family (type "counter" or "gauge"). Returns 0 or
 * the buffer's -errno (as every writer here). */
int metrics_family(struct buf *b, const char *name, const char *type, const char *help);

/* One sample: name{labels[0]="labels[1]",...} value. labels holds nlabels name/value pairs;
 * values are escaped (backslash, quote, newline). */
int metrics_sample(struct buf *b, const char *name, const char *const *labels, size_t nlabels,
		   double value);

/* Every stats.h counter as dswfs_<name>_total, every gauge as dswfs_<name>. */
int metrics_stats(struct buf *b);

/* The fleet in s: dswfs_instances{region,workspace_id,status,accelerator_type,payment_type}
 * (a count), and dswfs_requested_cpu_cores, dswfs_requested_gpus and
 * dswfs_requested_memory_bytes {region,workspace_id,status} (sums of RequestedResource over the
 * instances that state it; see metrics_quantity). -ENOMEM when an instance cannot be parsed. */
int metrics_fleet(struct buf *b, const struct snap *s, const char *region);

/* A RequestedResource quantity: a JSON number, or a string "4", "0.5", "500m" (thousandths),
 * or with a binary (Ki Mi Gi Ti) or decimal (K M G T) suffix. memory: a plain number means GiB
 * (the API's GB) and the result is bytes; otherwise the result is units (cores, GPUs) and
 * only "m" is accepted as a suffix. Returns the value, or -1 when v is none of these. */
double metrics_quantity(const cJSON *v, int memory);

#endif
