/* db_token: API bearer tokens (api_tokens). A token authenticates as its account, with the
 * account's rights and domains; only its SHA-256 is stored. */
#ifndef MB_DB_TOKEN_H
#define MB_DB_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_TOKEN_NAME_MAX 64
#define DB_TOKENS_MAX 100 /* per account */

struct db_token {
    int64_t id;
    int64_t account_id;
    char *name;
    int64_t created_at, last_used_at; /* 0 = never used */
};

void db_tokens_free(struct db_token *v, size_t n);
/* MB_ETOOBIG when the account has DB_TOKENS_MAX tokens already. */
int db_token_add(struct db *db, int64_t account_id, const char *name, const unsigned char hash[32],
                 int64_t *id_r, struct mb_err *err);
/* The tokens of an account, oldest first. */
int db_token_list(struct db *db, int64_t account_id, struct db_token **v_r, size_t *n_r,
                  struct mb_err *err);
/* Revoke (delete) token id of account_id: MB_ENOTFOUND if it is not one of its tokens. */
int db_token_delete(struct db *db, int64_t account_id, int64_t id, struct mb_err *err);
/* The account of a token hash (last_used_at refreshed at most once a minute):
 * MB_ENOTFOUND when unknown or revoked. */
int db_token_lookup(struct db *db, const unsigned char hash[32], int64_t now, int64_t *account_id_r,
                    struct mb_err *err);

#endif
