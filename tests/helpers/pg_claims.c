/* pg_claims: claims of jobs on the PostgreSQL store by many processes at once (issue 16),
 * for tests/integ/test_store_pg.sh, against the private PostgreSQL of tests/integ/pg.sh.
 *
 *   pg_claims URL PASSWORD_FILE CA_FILE load CLAIMERS JOBS HOSTS CAP
 *     JOBS jobs over HOSTS source hosts (every 10th job shares its mailbox pair with the one
 *     before: the pair rule is exercised), CLAIMERS processes with their own connection claim
 *     with a per-host cap of CAP, hold each job 5-15 ms and finish it, until none is left. A
 *     monitor connection samples the store meanwhile. Prints "claimed N distinct D max_running
 *     R max_host H pair_twice P samples S seconds T" and exits 0 when every job was claimed
 *     exactly once, the cap never seen exceeded, no pair seen running twice.
 *   pg_claims URL PASSWORD_FILE CA_FILE block
 *     (1) another connection holds the store-wide write lock (an open db_begin_immediate
 *     transaction): a claim does not wait for it; (2) another holds host a's lock (as a claim
 *     of host a does while it checks the cap): a claim takes a job of host b at once, passing
 *     over the older job of host a; (3) with only host a's job left, a claim waits for that
 *     lock (the cap is checked under it). Prints the times; exits 0 when all hold.
 *   pg_claims URL PASSWORD_FILE CA_FILE starve
 *     100 pending jobs of a host full for their server type's cap, then one of another host:
 *     a claim takes the other host's job (the full host is passed over, not scanned to the
 *     end of the claim's budget); the next claim finds nothing.
 * The store must be empty of jobs (the tool deletes them first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pq/libpq-fe.h>

#include "base/mb_err.h"
#include "db/db.h"
#include "db/db_internal.h"
#include "db/db_job.h"
#include "db/db_node.h"
#include "db/db_pg.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct db *open_db(void)
{
    struct db *db = NULL;
    struct mb_err err = {0};
    if (db_open("", &db, &err) != 0 || db_set_node(db, "claims-test", &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(2);
    }
    return db;
}

static long long scalar(struct db *db, const char *sql)
{
    PGresult *r = PQexec(db->pg, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static void run(struct db *db, const char *sql)
{
    PGresult *r = PQexec(db->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        exit(2);
    }
    PQclear(r);
}

/* JOBS jobs over HOSTS hosts; job i and i-1 share a pair when i % 10 == 9. */
static void make_jobs(struct db *db, int jobs, int hosts)
{
    run(db, "DELETE FROM jobs");
    for (int i = 0; i < jobs; i++) {
        char host[64], login[64], dest[64];
        int k = i % 10 == 9 ? i - 1 : i;
        snprintf(host, sizeof(host), "imap%d.Claims.test", k % hosts);
        snprintf(login, sizeof(login), "user%d@claims.test", k);
        snprintf(dest, sizeof(dest), "user%d@example.com", k);
        struct db_job_new j = {.source_host = host,
                               .source_port = 993,
                               .source_tls = "auto",
                               .source_login = login,
                               .server_type = "defaut",
                               .dest_login = dest};
        int64_t id;
        struct mb_err err = {0};
        if (db_job_insert(db, &j, &id, &err) != 0) {
            fprintf(stderr, "insert: %s\n", err.msg);
            exit(2);
        }
    }
}

static void register_node(struct db *db)
{
    struct db_node n = {.id = (char *)"claims-test",
                        .hostname = (char *)"test",
                        .pid = getpid(),
                        .version = (char *)"test",
                        .workers = 1};
    struct mb_err err = {0};
    run(db, "DELETE FROM nodes");
    if (db_node_register(db, &n, 3600, &err) != 0) {
        fprintf(stderr, "register: %s\n", err.msg);
        exit(2);
    }
}

struct shared {
    int claims[4096]; /* claims per job id (ids of one fresh run stay below this) */
    int total, errors, done;
};

static void claimer(struct shared *sh, int index, int cap)
{
    struct db *db = open_db();
    unsigned seed = (unsigned)getpid();
    char name[32];
    snprintf(name, sizeof(name), "claimer-%d", index);
    int idle = 0;
    while (idle < 20) {
        struct db_job job;
        struct mb_err err = {0};
        int rc = db_job_claim(db, name, cap, &job, &err);
        if (rc < 0) {
            fprintf(stderr, "%s: claim: %s\n", name, err.msg);
            __atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
            break;
        }
        if (rc == 0) {
            if (scalar(db, "SELECT count(*) FROM jobs WHERE state = 'pending'") == 0)
                break;
            idle++;
            usleep(20000);
            continue;
        }
        idle = 0;
        if (job.id > 0 && job.id < 4096)
            __atomic_add_fetch(&sh->claims[job.id], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&sh->total, 1, __ATOMIC_SEQ_CST);
        usleep((useconds_t)(5000 + rand_r(&seed) % 10000));
        if (db_job_finish(db, job.id, DB_JOB_DONE, NULL, NULL, &err) != 0) {
            fprintf(stderr, "%s: finish: %s\n", name, err.msg);
            __atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
        }
        db_job_fini(&job);
    }
    db_close(&db);
}

static int load(int claimers, int jobs, int hosts, int cap)
{
    struct db *db = open_db();
    register_node(db);
    make_jobs(db, jobs, hosts);
    long long first = scalar(db, "SELECT min(id) FROM jobs");
    struct shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || first < 1 || first + jobs >= 4096) {
        fprintf(stderr, "setup failed (ids from %lld)\n", first);
        return 2;
    }
    memset(sh, 0, sizeof(*sh));
    double t0 = now_s();
    fflush(stdout);
    pid_t pids[64];
    for (int i = 0; i < claimers && i < 64; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            claimer(sh, i, cap);
            _exit(0);
        }
    }
    /* The monitor: what a reader of the store sees at any moment. */
    long long max_running = 0, max_host = 0, pair_twice = 0, samples = 0;
    for (;;) {
        long long running = scalar(db, "SELECT count(*) FROM jobs WHERE state = 'running'");
        long long host = scalar(db, "SELECT COALESCE(max(n), 0) FROM (SELECT count(*) n FROM jobs "
                                    "WHERE state = 'running' GROUP BY lower(source_host)) x");
        long long pair = scalar(db, "SELECT count(*) FROM (SELECT pair_key FROM jobs WHERE state "
                                    "= 'running' GROUP BY pair_key HAVING count(*) > 1) x");
        samples++;
        max_running = running > max_running ? running : max_running;
        max_host = host > max_host ? host : max_host;
        pair_twice += pair > 0;
        int status, alive = 0;
        for (int i = 0; i < claimers; i++)
            if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == 0)
                alive++;
        if (!alive)
            break;
        usleep(2000);
    }
    double took = now_s() - t0;
    int distinct = 0, twice = 0;
    for (long long id = first; id < first + jobs; id++) {
        distinct += sh->claims[id] >= 1;
        twice += sh->claims[id] > 1;
    }
    long long left = scalar(db, "SELECT count(*) FROM jobs WHERE state <> 'done'");
    printf("claimed %d distinct %d twice %d left %lld max_running %lld max_host %lld "
           "pair_twice %lld samples %lld seconds %.2f errors %d\n",
           sh->total, distinct, twice, left, max_running, max_host, pair_twice, samples, took,
           sh->errors);
    db_close(&db);
    return sh->total == jobs && distinct == jobs && twice == 0 && left == 0 && max_host <= cap
                   && max_host == cap && pair_twice == 0 && sh->errors == 0
               ? 0
               : 1;
}

/* A claim in a child process: prints the job's host (or "none") and the seconds it took. */
static double timed_claim(char *host_r, size_t n)
{
    struct db *db = open_db();
    struct db_job job;
    struct mb_err err = {0};
    double t0 = now_s();
    int rc = db_job_claim(db, "blocked", 2, &job, &err);
    double t = now_s() - t0;
    if (rc == 1) {
        snprintf(host_r, n, "%s", job.source_host);
        db_job_fini(&job);
    } else {
        snprintf(host_r, n, "%s", rc == 0 ? "none" : err.msg);
    }
    db_close(&db);
    return t;
}

static int block(void)
{
    struct db *db = open_db(), *other = open_db();
    register_node(db);
    make_jobs(db, 2, 2); /* job 1: imap0, job 2: imap1 */
    int bad = 0;
    char host[300];
    /* (1) the store-wide write lock held by an open transaction elsewhere */
    struct mb_err err = {0};
    if (db_begin_immediate(other, &err) != 0) {
        fprintf(stderr, "begin: %s\n", err.msg);
        return 2;
    }
    double t = timed_claim(host, sizeof(host));
    printf("store-wide write lock held elsewhere: claim took %.3f s, got %s\n", t, host);
    bad += t > 1.0 || strcasecmp(host, "imap0.claims.test") != 0;
    db_rollback(other);
    run(db, "UPDATE jobs SET state = 'pending', node = NULL, worker = NULL");
    /* (2) host imap0's lock held (a claim of that host checking its cap) */
    run(other, "BEGIN; SELECT pg_advisory_xact_lock(1835496040, hashtext('imap0.claims.test'))");
    t = timed_claim(host, sizeof(host));
    printf("host imap0 being claimed elsewhere: claim took %.3f s, got %s\n", t, host);
    bad += t > 1.0 || strcasecmp(host, "imap1.claims.test") != 0;
    /* (3) only imap0's job left: the claim waits for the lock, then takes it */
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        t = timed_claim(host, sizeof(host));
        printf("only host imap0 left: claim took %.3f s (lock held 1.5 s), got %s\n", t, host);
        fflush(stdout);
        _exit(t >= 1.3 && strcasecmp(host, "imap0.claims.test") == 0 ? 0 : 1);
    }
    usleep(1500000);
    run(other, "COMMIT");
    int status = 0;
    waitpid(p, &status, 0);
    bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    db_close(&other);
    db_close(&db);
    return bad ? 1 : 0;
}

static int office_cap(const char *server_type, int host_cap)
{
    return server_type && strcmp(server_type, "office") == 0 ? 1 : host_cap;
}

/* 100 jobs of host a whose server type allows 1 connection (one of them running), then one job
 * of host b: a claim passes over host a's jobs (found full once) and takes b's. */
static int starve(void)
{
    struct db *db = open_db();
    register_node(db);
    run(db, "DELETE FROM jobs");
    for (int i = 0; i < 101; i++) {
        char login[64], dest[64];
        snprintf(login, sizeof(login), "user%d@claims.test", i);
        snprintf(dest, sizeof(dest), "user%d@example.com", i);
        struct db_job_new j = {.source_host = i < 100 ? "a.claims.test" : "b.claims.test",
                               .source_port = 993,
                               .source_tls = "auto",
                               .source_login = login,
                               .server_type = i < 100 ? "office" : "defaut",
                               .dest_login = dest};
        int64_t id;
        struct mb_err err = {0};
        if (db_job_insert(db, &j, &id, &err) != 0) {
            fprintf(stderr, "insert: %s\n", err.msg);
            return 2;
        }
    }
    struct db_job job;
    struct mb_err err = {0};
    int bad = 0;
    int rc = db_job_claim_capped(db, "w1", 4, office_cap, &job, &err);
    bad += rc != 1 || strcmp(job.source_host, "a.claims.test") != 0;
    if (rc == 1)
        db_job_fini(&job);
    double t0 = now_s();
    rc = db_job_claim_capped(db, "w2", 4, office_cap, &job, &err);
    double t = now_s() - t0;
    printf("host a full for its type (cap 1 of 4) with 99 jobs pending: claim took %.3f s, got "
           "%s\n",
           t,
           rc == 1   ? job.source_host
           : rc == 0 ? "none"
                     : err.msg);
    bad += rc != 1 || strcmp(job.source_host, "b.claims.test") != 0;
    if (rc == 1)
        db_job_fini(&job);
    rc = db_job_claim_capped(db, "w3", 4, office_cap, &job, &err);
    printf("then: %s\n", rc == 1 ? job.source_host : rc == 0 ? "none (right)" : err.msg);
    bad += rc != 0;
    if (rc == 1)
        db_job_fini(&job);
    db_close(&db);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: pg_claims URL PASSWORD_FILE CA_FILE load|block ...\n");
        return 2;
    }
    char pw[256] = "";
    FILE *f = fopen(argv[2], "r");
    if (!f || !fgets(pw, sizeof(pw), f)) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    db_pg_set_timeout(20);
    db_use_postgresql(argv[1], pw, strlen(pw), argv[3]);
    if (strcmp(argv[4], "load") == 0 && argc == 9)
        return load(atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8]));
    if (strcmp(argv[4], "block") == 0)
        return block();
    if (strcmp(argv[4], "starve") == 0)
        return starve();
    fprintf(stderr, "pg_claims: bad arguments\n");
    return 2;
}
