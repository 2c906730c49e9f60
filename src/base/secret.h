/* secret: handling of secrets (passwords, keys).
 *
 *  - random bytes from the kernel (getrandom);
 *  - constant-time comparison;
 *  - struct secret: an owned byte string wiped on free;
 *  - the secret box: AES-256-GCM with a 32-byte key kept in a 0600 file, used to keep
 *    source passwords encrypted at rest.
 *
 * Box format (all binary): version byte 0x01 | 12-byte random nonce | ciphertext | 16-byte tag.
 * The optional associated data (e.g. "job-source-password") must match at open time.
 * Nothing here ever logs or puts secret bytes into a struct mb_err. */
#ifndef MB_SECRET_H
#define MB_SECRET_H

#include <stddef.h>

#include "mb_err.h"

#define SECRET_KEY_LEN 32
#define SECRET_BOX_OVERHEAD (1 + 12 + 16)

struct secret {
    char *data; /* NUL-terminated for convenience; may contain NULs */
    size_t len;
};

/* Fill buf with n cryptographically random bytes. Returns 0 or MB_ECRYPTO. */
int secret_random(void *buf, size_t n, struct mb_err *err);
/* 1 if the n bytes at a and b are equal; time independent of the contents. */
int secret_ct_equal(const void *a, const void *b, size_t n);
/* Wipe n bytes so the compiler cannot elide it. */
void secret_wipe(void *p, size_t n);

/* Copy n bytes into s (s must be zeroed or finished). */
void secret_set(struct secret *s, const void *p, size_t n);
/* Wipe and free; s is left zeroed. Safe on a zeroed struct. */
void secret_fini(struct secret *s);

struct secret_box {
    unsigned char key[SECRET_KEY_LEN];
};

/* Load the key file at path, creating it (mode 0600, O_EXCL) with a fresh random key if it
 * does not exist. Refuses a key file of the wrong size or readable by group/others. */
int secret_box_load(struct secret_box *box, const char *path, struct mb_err *err);
/* Use an explicit key (tests). */
void secret_box_init_key(struct secret_box *box, const unsigned char key[SECRET_KEY_LEN]);
void secret_box_fini(struct secret_box *box);

/* Encrypt n bytes; *out_r (xmalloc'ed, caller frees) holds n + SECRET_BOX_OVERHEAD bytes. */
int secret_box_seal(const struct secret_box *box, const char *aad, const void *plain, size_t n,
                    unsigned char **out_r, size_t *out_len_r, struct mb_err *err);
/* Decrypt and authenticate; on any tampering returns MB_ECRYPTO and leaves out untouched. */
int secret_box_open(const struct secret_box *box, const char *aad, const unsigned char *sealed,
                    size_t n, struct secret *out, struct mb_err *err);

#endif
