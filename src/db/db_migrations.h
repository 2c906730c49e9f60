/* db_migrations: the ordered list of schema steps applied by db_open (see db.h).
 * Append only: step i (0-based) takes a database from user_version i to i + 1. */
#ifndef MB_DB_MIGRATIONS_H
#define MB_DB_MIGRATIONS_H

#include <stddef.h>

#include "db/db.h"

extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

#endif
