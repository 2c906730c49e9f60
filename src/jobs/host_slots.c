/* host_slots: see host_slots.h. */
#include "host_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "base/xalloc.h"

struct host_slot {
    char host[256];
    int running;
};

void host_slots_init(struct host_slots *s, int n_workers)
{
    pthread_mutex_init(&s->mu, NULL);
    s->hosts = xcalloc(HOST_SLOTS_MAX, sizeof(*s->hosts));
    s->job_slots = 0;
    s->n_workers = n_workers;
}

void host_slots_fini(struct host_slots *s)
{
    free(s->hosts);
    s->hosts = NULL;
    pthread_mutex_destroy(&s->mu);
}

int host_slots_take(struct host_slots *s, const char *host, int cap, int extra)
{
    int ok = 0;
    pthread_mutex_lock(&s->mu);
    struct host_slot *free_slot = NULL, *slot = NULL;
    for (int i = 0; i < HOST_SLOTS_MAX && !slot; i++) {
        if (s->hosts[i].running > 0 && strcasecmp(s->hosts[i].host, host) == 0)
            slot = &s->hosts[i];
        else if (!free_slot && s->hosts[i].running == 0)
            free_slot = &s->hosts[i];
    }
    if (!slot && free_slot) {
        slot = free_slot;
        snprintf(slot->host, sizeof(slot->host), "%s", host);
    }
    int reserve = extra && s->n_workers > s->job_slots ? s->n_workers - s->job_slots : 0;
    if (slot && (cap <= 0 || slot->running + reserve < cap)) {
        slot->running++;
        s->job_slots += !extra;
        ok = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void host_slots_give(struct host_slots *s, const char *host, int extra)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < HOST_SLOTS_MAX; i++)
        if (s->hosts[i].running > 0 && strcasecmp(s->hosts[i].host, host) == 0) {
            s->hosts[i].running--;
            s->job_slots -= !extra;
            break;
        }
    pthread_mutex_unlock(&s->mu);
}
