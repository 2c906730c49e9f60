/* host_slots: one node's count of connections per source host, against [sources]
 * max_connections_per_host (lowered by the server type's own cap): the workers' jobs take a
 * slot each, and a running job's extra connection pairs (mig_hooks.extra_conn) one more each.
 * An extra connection leaves one slot free for every worker without a job, so that a worker
 * that ends its job and claims the next one never finds the host full of the other jobs'
 * extra connections (its claim would be put off, jobs.c HOST_BUSY_DELAY_S). Thread-safe. */
#ifndef MB_HOST_SLOTS_H
#define MB_HOST_SLOTS_H

#include <pthread.h>

struct host_slot;

struct host_slots {
    pthread_mutex_t mu;
    struct host_slot *hosts; /* HOST_SLOTS_MAX; a slot with running == 0 is free */
    int job_slots;           /* slots held by jobs themselves (not their extra connections) */
    int n_workers;
};

#define HOST_SLOTS_MAX 1024 /* hosts with connections at once */

void host_slots_init(struct host_slots *s, int n_workers);
void host_slots_fini(struct host_slots *s);
/* Take a slot for host (compared without case): 1, or 0 when cap (> 0; <= 0: no cap) is
 * reached, or when HOST_SLOTS_MAX other hosts have connections. extra: for a job's extra
 * connection (see above), else for a job. */
int host_slots_take(struct host_slots *s, const char *host, int cap, int extra);
/* Give back a slot taken with the same host and extra. */
void host_slots_give(struct host_slots *s, const char *host, int extra);

#endif
