/* db_migrations: schema history. HOW TO CHANGE THE SCHEMA
 *
 *   1. Append a new entry at the END of db_migrations[] below: { "what it does", SQL, fn }.
 *      SQL may hold several statements; fn (optional) runs after the SQL, in the same
 *      transaction, for changes that need code (e.g. rewriting rows).
 *   2. Never edit, reorder or delete an entry that has been committed: databases in the field
 *      already carry its effect and their user_version counts it.
 *   3. Do not put BEGIN/COMMIT or PRAGMA journal_mode in a step (db_open wraps each step in
 *      BEGIN IMMEDIATE ... COMMIT with the user_version bump).
 *   4. SQLite's ALTER TABLE is limited: ADD COLUMN with a constant default is fine; anything
 *      else is the 12-step "create new table, copy, drop, rename" dance
 * (sqlite.org/lang_altertable.html).
 *   5. Add a test in tests/unit/test_db.c that reads what the new step produced.
 *
 * Times are INTEGER unix seconds (UTC). Booleans are INTEGER 0/1. */
#include "db/db_migrations.h"

/* Version 1: the initial schema. */
static const char schema_v1[] =
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL,"
    "  admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE account_domains ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  domain TEXT NOT NULL,"
    "  PRIMARY KEY (account_id, domain)"
    ") WITHOUT ROWID;"
    "CREATE INDEX account_domains_domain ON account_domains(domain);"

    "CREATE TABLE batches ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,"
    "  created_at INTEGER NOT NULL,"
    "  filename TEXT,"
    "  rows INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX batches_account ON batches(account_id);"

    /* dest_domain: lower-case domain of dest_login, written by db_job_insert, for the
     * per-account domain restriction. not_before: a deferred retry is not claimed before.
     * source_secret: AES-GCM box of the source password, NULL once erased. */
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  batch_id INTEGER REFERENCES batches(id) ON DELETE SET NULL,"
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending', 'running', 'failed', 'done')),"
    "  error TEXT,"
    "  source_host TEXT NOT NULL,"
    "  source_port INTEGER NOT NULL CHECK (source_port BETWEEN 1 AND 65535),"
    "  source_tls TEXT NOT NULL,"
    "  insecure INTEGER NOT NULL DEFAULT 0 CHECK (insecure IN (0, 1)),"
    "  source_login TEXT NOT NULL,"
    "  source_secret BLOB,"
    "  server_type TEXT NOT NULL,"
    "  dest_login TEXT NOT NULL,"
    "  dest_domain TEXT NOT NULL,"
    "  subscribed_only INTEGER NOT NULL DEFAULT 0 CHECK (subscribed_only IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  not_before INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  worker TEXT,"
    "  heartbeat_at INTEGER,"
    "  folders_total INTEGER NOT NULL DEFAULT 0,"
    "  folders_done INTEGER NOT NULL DEFAULT 0,"
    "  messages_total INTEGER NOT NULL DEFAULT 0,"
    "  messages_copied INTEGER NOT NULL DEFAULT 0,"
    "  messages_skipped INTEGER NOT NULL DEFAULT 0,"
    "  messages_failed INTEGER NOT NULL DEFAULT 0,"
    "  bytes_total INTEGER NOT NULL DEFAULT 0,"
    "  bytes_copied INTEGER NOT NULL DEFAULT 0,"
    "  current_folder TEXT,"
    "  report TEXT"
    ");"
    /* claim (state = 'pending' ORDER BY id) and listing by state, newest first */
    "CREATE INDEX jobs_state ON jobs(state, id);"
    "CREATE INDEX jobs_batch ON jobs(batch_id, id);"
    "CREATE INDEX jobs_created ON jobs(created_at);"
    "CREATE INDEX jobs_account ON jobs(account_id);"
    "CREATE INDEX jobs_domain ON jobs(dest_domain, id);"

    "CREATE TABLE job_log ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  ts INTEGER NOT NULL,"
    "  level TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),"
    "  text TEXT NOT NULL"
    ");"
    "CREATE INDEX job_log_job ON job_log(job_id, id);"

    /* One row per source message a job has dealt with. state: 0 in flight (APPEND may have
     * been sent), 1 copied (or found already on the destination), 2 failed (refused).
     * dest_uidvalidity/dest_uidnext: destination folder's UIDVALIDITY and UIDNEXT read just
     * before the window of APPENDs that carries this message: the recovery key. */
    "CREATE TABLE msgmap ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  folder TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
    "  dest_folder TEXT,"
    "  dest_uidvalidity INTEGER,"
    "  dest_uidnext INTEGER,"
    "  dest_uid INTEGER,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  hash BLOB,"
    "  message_id TEXT,"
    "  internaldate INTEGER,"
    "  error TEXT,"
    "  PRIMARY KEY (job_id, folder, uidvalidity, uid)"
    ") WITHOUT ROWID;"

    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_account ON sessions(account_id);"
    "CREATE INDEX sessions_expires ON sessions(expires_at);";

/* Version 2: exactly once at any restart timing (docs/ARCHITECTURE.md). verify: an APPEND of
 * this message was sent on a connection that died before its answer and the message was sent
 * again, so the first copy may still land: the destination folder is reconciled until a
 * reconciliation that started at or after settle_at (unix seconds) clears it. first_uidnext:
 * the lowest dest_uidnext of the windows that sent it into this destination folder instance,
 * the floor of the UIDs its copies can have. */
static const char schema_v2[] =
    "ALTER TABLE msgmap ADD COLUMN verify INTEGER NOT NULL DEFAULT 0 CHECK (verify IN (0, 1));"
    "ALTER TABLE msgmap ADD COLUMN settle_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE msgmap ADD COLUMN first_uidnext INTEGER;"
    "CREATE INDEX msgmap_verify ON msgmap(job_id, verify) WHERE verify = 1;";

/* Version 3: source authentication profiles (issue 9): one credential for a whole source
 * organisation. Public fields in columns; the secrets (client secret, certificate and key,
 * service-account key, admin password) as one JSON object sealed with the secret box (associated
 * data "auth-profile:" + name). jobs.auth_profile names the profile a job logs in with (then the
 * job has no source password). */
static const char schema_auth_profiles[] =
    "CREATE TABLE auth_profiles ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('microsoft365', 'google', 'imap-admin')),"
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,"
    "  created_at INTEGER NOT NULL,"
    "  tenant TEXT,"
    "  client_id TEXT,"
    "  token_url TEXT,"
    "  source_host TEXT,"
    "  admin_user TEXT,"
    "  method TEXT,"
    "  separator TEXT,"
    "  secrets BLOB NOT NULL"
    ");"
    "ALTER TABLE jobs ADD COLUMN auth_profile TEXT;";

/* Version 4: batches (issue 12), flag updates of delta passes (msgmap.flags), webhooks, API
 * tokens. Source credentials are kept after a job ends, until the job
 * or its batch is finalized (finalized_at) or [server] credential_retention has passed since
 * the job last ended. batches.sync_every: seconds between automatic delta passes (NULL =
 * none), next_sync_at: when the next one is due. jobs.pair_key: lower(source host) LF source
 * login LF lower(destination), the key of exactly-once across jobs (a new job inherits the
 * message map of earlier jobs with the same key; two jobs of one key never run at once). */
static const char schema_batches[] =
    "ALTER TABLE batches ADD COLUMN finalized_at INTEGER;"
    "ALTER TABLE batches ADD COLUMN sync_every INTEGER;"
    "ALTER TABLE batches ADD COLUMN next_sync_at INTEGER;"
    "ALTER TABLE jobs ADD COLUMN finalized_at INTEGER;"
    "ALTER TABLE jobs ADD COLUMN pair_key TEXT;"
    "UPDATE jobs SET pair_key = lower(source_host) || char(10) || source_login || char(10) "
    "  || lower(dest_login);"
    "CREATE INDEX jobs_pair ON jobs(pair_key, id);"
    /* msgmap.flags: the source flags last carried to the destination (sorted, blank-separated,
     * without \Recent; NULL = unknown): a delta pass stores on the destination what changed
     * at the source since. */
    "ALTER TABLE msgmap ADD COLUMN flags TEXT;"
    /* webhook_outbox: events waiting to be POSTed to [server] webhook_url (jobs.c), kept until
     * delivered or given up; next_at: not tried before (unix seconds). */
    "CREATE TABLE webhook_outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  created_at INTEGER NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL DEFAULT 0"
    ");"
    /* api_tokens: named bearer tokens of an account (control panels); only the SHA-256 of a
     * token is stored; revoking deletes the row. */
    "CREATE TABLE api_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER"
    ");"
    "CREATE INDEX api_tokens_account ON api_tokens(account_id);"
    "CREATE INDEX batches_sync ON batches(next_sync_at) WHERE sync_every IS NOT NULL;";
/* Issue 13: the job's migration options (since, before, exclude_folders, folder_map,
 * max_message_size) as one JSON object (src/migrate/mig_options.h); NULL = none. */
static const char schema_job_options[] = "ALTER TABLE jobs ADD COLUMN options TEXT;";
/* Folder states of delta passes (db_folder.h): an unchanged folder is left alone by the next
 * pass of the job, as long as the job's options stay the same. */
static const char schema_folder_state[] =
    "CREATE TABLE folder_state ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  folder TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL,"
    "  uidnext INTEGER NOT NULL,"
    "  messages INTEGER NOT NULL,"
    "  highestmodseq INTEGER NOT NULL,"
    "  dest_uidvalidity INTEGER NOT NULL,"
    "  counted INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  dest_count INTEGER NOT NULL,"
    "  left_date INTEGER NOT NULL DEFAULT 0,"
    "  left_size INTEGER NOT NULL DEFAULT 0,"
    "  left_label INTEGER NOT NULL DEFAULT 0,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (job_id, folder)"
    ");"
    /* Other options or server type, other messages: a folder's state says nothing of what
     * they take in (an earlier `since`, Gmail's archive rule...), so it goes, whatever path
     * changed them. */
    "CREATE TRIGGER folder_state_options AFTER UPDATE OF options, server_type ON jobs "
    "WHEN NEW.options IS NOT OLD.options OR NEW.server_type IS NOT OLD.server_type "
    "BEGIN DELETE FROM folder_state WHERE job_id = NEW.id; END;";

/* Issue 15: a job's error and its log lines as a coded message (src/msg/msgcat.def): its code
 * and parameters (JSON object) beside the English text; NULL code = a text without one (rows
 * written before, and the engine's texts not coded yet). */
static const char schema_message_codes[] = "ALTER TABLE jobs ADD COLUMN error_code TEXT;"
                                           "ALTER TABLE jobs ADD COLUMN error_params TEXT;"
                                           "ALTER TABLE job_log ADD COLUMN code TEXT;"
                                           "ALTER TABLE job_log ADD COLUMN params TEXT;";

/* Issue 16: the nodes serving this store (one row per running `migrabox serve`, id made at
 * its start; lease_until: heartbeat_at + [store] lease) and the node whose worker runs a job
 * (jobs.node): a node's writes to a job are fenced by it. */
static const char schema_nodes[] = "CREATE TABLE nodes ("
                                   "  id TEXT PRIMARY KEY,"
                                   "  hostname TEXT NOT NULL,"
                                   "  pid INTEGER NOT NULL,"
                                   "  version TEXT NOT NULL,"
                                   "  listen TEXT,"
                                   "  workers INTEGER NOT NULL,"
                                   "  running INTEGER NOT NULL DEFAULT 0,"
                                   "  started_at INTEGER NOT NULL,"
                                   "  heartbeat_at INTEGER NOT NULL,"
                                   "  lease_until INTEGER NOT NULL"
                                   ");"
                                   "ALTER TABLE jobs ADD COLUMN node TEXT;";

/* Issue 15: why a single message was refused, as a coded message (src/msg/msgcat.def) beside
 * the English in msgmap.error; NULL code = a text without one (rows written before). */
static const char schema_msgmap_codes[] = "ALTER TABLE msgmap ADD COLUMN error_code TEXT;"
                                          "ALTER TABLE msgmap ADD COLUMN error_params TEXT;";

const struct db_migration db_migrations[] = {
    {"initial schema", schema_v1, NULL},
    {"msgmap: unsettled re-sent messages (verify, settle_at, first_uidnext)", schema_v2, NULL},
    {"source authentication profiles", schema_auth_profiles, NULL},
    {"jobs: migration options (issue 13)", schema_job_options, NULL},
    {"folder states of delta passes", schema_folder_state, NULL},
    {"batches: kept credentials, finalize, automatic passes, mailbox-pair key", schema_batches,
     NULL},
    {"jobs, job_log: error and log lines as codes (issue 15)", schema_message_codes, NULL},
    {"nodes and the node running a job (issue 16)", schema_nodes, NULL},
    {"msgmap: a refused message's reason as a code (issue 15)", schema_msgmap_codes, NULL},
    /* Append new steps here. */
};

const size_t db_migrations_count = sizeof(db_migrations) / sizeof(db_migrations[0]);
