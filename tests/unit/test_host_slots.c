#define T_IMPLEMENTATION
#include "t.h"

#include "jobs/host_slots.h"

/* The per-host connection cap of one node (src/jobs/host_slots.c): jobs and their extra
 * connections, the slots kept free for workers without a job. */

static void test_jobs_cap(void)
{
    T_BEGIN("jobs take a slot each, per host (any case), up to the cap; none without a cap");
    struct host_slots s;
    host_slots_init(&s, 4);
    T_ASSERT(host_slots_take(&s, "imap.example.com", 2, 0));
    T_ASSERT(host_slots_take(&s, "IMAP.example.com", 2, 0)); /* the same host, any case */
    T_ASSERT(!host_slots_take(&s, "imap.example.com", 2, 0));
    T_ASSERT(host_slots_take(&s, "other.example.com", 2, 0)); /* each host its own cap */
    host_slots_give(&s, "imap.example.com", 0);
    T_ASSERT(host_slots_take(&s, "imap.example.com", 2, 0));
    T_ASSERT(host_slots_take(&s, "imap.example.com", 0, 0)); /* cap <= 0: none */
    host_slots_fini(&s);
    T_END();
}

/* 8 workers, cap 10: while every worker runs a job of the host, the jobs' extra connections
 * may take the 2 slots left; once a worker has no job, its slot is kept for its next claim. */
static void test_extra_keeps_idle_workers_slot(void)
{
    T_BEGIN("8 workers, cap 10: extra connections take what the jobs leave, never an idle "
            "worker's slot");
    struct host_slots s;
    host_slots_init(&s, 8);
    const char *h = "127.0.0.1";
    for (int i = 0; i < 8; i++)
        T_ASSERT(host_slots_take(&s, h, 10, 0));
    T_ASSERT(host_slots_take(&s, h, 10, 1));
    T_ASSERT(host_slots_take(&s, h, 10, 1));
    T_ASSERT(!host_slots_take(&s, h, 10, 1)); /* the cap */
    /* a job ends: its worker's slot is not for the extra connections... */
    host_slots_give(&s, h, 0);
    T_ASSERT(!host_slots_take(&s, h, 10, 1));
    /* ...but for the job the worker claims next */
    T_ASSERT(host_slots_take(&s, h, 10, 0));
    /* an extra connection ends: it may be taken again by another one */
    host_slots_give(&s, h, 1);
    T_ASSERT(host_slots_take(&s, h, 10, 1));
    host_slots_fini(&s);
    T_END();
}

/* One job alone among 4 workers, cap 10: its extra connections keep 3 slots for the idle
 * workers and may take the other 6. */
static void test_extra_alone(void)
{
    T_BEGIN("one job among 4 workers, cap 10: 6 extra connections, 3 slots kept for jobs");
    struct host_slots s;
    host_slots_init(&s, 4);
    const char *h = "imap.gmail.com";
    T_ASSERT(host_slots_take(&s, h, 10, 0));
    int extras = 0;
    while (extras < 20 && host_slots_take(&s, h, 10, 1))
        extras++;
    T_ASSERT_INT(extras, 6);
    /* the idle workers' jobs still find their slots */
    for (int i = 0; i < 3; i++)
        T_ASSERT(host_slots_take(&s, h, 10, 0));
    T_ASSERT(!host_slots_take(&s, h, 10, 0));
    host_slots_fini(&s);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_jobs_cap, test_extra_keeps_idle_workers_slot,
                                        test_extra_alone, NULL};
    return t_run(fns);
}
