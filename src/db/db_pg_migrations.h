/* db_pg_migrations: the ordered schema steps of the PostgreSQL store (see db_pg.h). Append
 * only: step i (0-based) takes the schema from version i to i + 1. */
#ifndef MB_DB_PG_MIGRATIONS_H
#define MB_DB_PG_MIGRATIONS_H

#include <stddef.h>

struct db_pg_migration {
    const char *name; /* short description, shown in errors */
    const char *sql;  /* one or more statements */
};

extern const struct db_pg_migration db_pg_migrations[];
extern const size_t db_pg_migrations_count;

#endif
