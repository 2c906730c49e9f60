#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#include "xalloc.h"

#define BOX_VERSION 0x01
#define BOX_NONCE_LEN 12
#define BOX_TAG_LEN 16

int secret_random(void *buf, size_t n, struct mb_err *err)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return mb_err_setsys(err, MB_ECRYPTO, errno, "getrandom failed: %s", strerror(errno));
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int secret_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

void secret_wipe(void *p, size_t n)
{
    if (p && n)
        mbedtls_platform_zeroize(p, n);
}

void secret_set(struct secret *s, const void *p, size_t n)
{
    s->data = xmalloc(n + 1);
    memcpy(s->data, p, n);
    s->data[n] = '\0';
    s->len = n;
}

void secret_fini(struct secret *s)
{
    if (s->data) {
        secret_wipe(s->data, s->len + 1);
        free(s->data);
    }
    s->data = NULL;
    s->len = 0;
}

void secret_box_init_key(struct secret_box *box, const unsigned char key[SECRET_KEY_LEN])
{
    memcpy(box->key, key, SECRET_KEY_LEN);
}

void secret_box_fini(struct secret_box *box)
{
    secret_wipe(box->key, sizeof(box->key));
}

static int read_full(int fd, unsigned char *p, size_t n, size_t *got_r)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *got_r = got;
    return 0;
}

int secret_box_load(struct secret_box *box, const char *path, struct mb_err *err)
{
    unsigned char key[SECRET_KEY_LEN + 1];
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        rc = secret_random(key, SECRET_KEY_LEN, err);
        if (rc == 0) {
            size_t off = 0;
            while (off < SECRET_KEY_LEN) {
                ssize_t w = write(fd, key + off, SECRET_KEY_LEN - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    rc = mb_err_setsys(err, MB_EIO, errno, "cannot write key file %s: %s", path,
                                       strerror(errno));
                    break;
                }
                off += (size_t)w;
            }
        }
        if (rc == 0 && fsync(fd) != 0)
            rc = mb_err_setsys(err, MB_EIO, errno, "cannot sync key file %s: %s", path,
                               strerror(errno));
        close(fd);
        if (rc != 0)
            unlink(path);
        else
            secret_box_init_key(box, key);
        goto out;
    }
    if (errno != EEXIST) {
        rc = mb_err_setsys(err, MB_EIO, errno, "cannot create key file %s: %s", path,
                           strerror(errno));
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc =
            mb_err_setsys(err, MB_EIO, errno, "cannot open key file %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = mb_err_set(err, MB_ECONFIG, "key file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        close(fd);
        rc = mb_err_set(err, MB_ECONFIG,
                        "key file %s is accessible by group or others (mode %04o); "
                        "run chmod 600 on it",
                        path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    size_t got = 0;
    int rr = read_full(fd, key, sizeof(key), &got);
    close(fd);
    if (rr != 0 || got != SECRET_KEY_LEN) {
        rc = mb_err_set(err, MB_ECONFIG, "key file %s must hold exactly %d bytes", path,
                        SECRET_KEY_LEN);
        goto out;
    }
    secret_box_init_key(box, key);
out:
    secret_wipe(key, sizeof(key));
    return rc;
}

int secret_box_seal(const struct secret_box *box, const char *aad, const void *plain, size_t n,
                    unsigned char **out_r, size_t *out_len_r, struct mb_err *err)
{
    if (n > (1u << 20))
        return mb_err_set(err, MB_ETOOBIG, "secret too long to seal");
    size_t total = n + SECRET_BOX_OVERHEAD;
    unsigned char *out = xmalloc(total);
    out[0] = BOX_VERSION;
    int rc = secret_random(out + 1, BOX_NONCE_LEN, err);
    if (rc != 0) {
        free(out);
        return rc;
    }
    const unsigned char *ad = (const unsigned char *)(aad ? aad : "");
    size_t ad_len = aad ? strlen(aad) : 0;
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, box->key, SECRET_KEY_LEN * 8);
    if (r == 0)
        r = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, n, out + 1, BOX_NONCE_LEN, ad,
                                      ad_len, plain, out + 1 + BOX_NONCE_LEN, BOX_TAG_LEN,
                                      out + 1 + BOX_NONCE_LEN + n);
    mbedtls_gcm_free(&gcm);
    if (r != 0) {
        secret_wipe(out, total);
        free(out);
        return mb_err_setsys(err, MB_ECRYPTO, r, "encryption failed");
    }
    *out_r = out;
    *out_len_r = total;
    return 0;
}

int secret_box_open(const struct secret_box *box, const char *aad, const unsigned char *sealed,
                    size_t n, struct secret *out, struct mb_err *err)
{
    if (n < SECRET_BOX_OVERHEAD || sealed[0] != BOX_VERSION)
        return mb_err_set(err, MB_ECRYPTO, "sealed secret is malformed");
    size_t len = n - SECRET_BOX_OVERHEAD;
    const unsigned char *ad = (const unsigned char *)(aad ? aad : "");
    size_t ad_len = aad ? strlen(aad) : 0;
    char *plain = xmalloc(len + 1);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, box->key, SECRET_KEY_LEN * 8);
    if (r == 0)
        r = mbedtls_gcm_auth_decrypt(&gcm, len, sealed + 1, BOX_NONCE_LEN, ad, ad_len,
                                     sealed + 1 + BOX_NONCE_LEN + len, BOX_TAG_LEN,
                                     sealed + 1 + BOX_NONCE_LEN, (unsigned char *)plain);
    mbedtls_gcm_free(&gcm);
    if (r != 0) {
        secret_wipe(plain, len + 1);
        free(plain);
        return mb_err_setsys(err, MB_ECRYPTO, r,
                             "sealed secret failed authentication (tampered or wrong key)");
    }
    plain[len] = '\0';
    secret_fini(out);
    out->data = plain;
    out->len = len;
    return 0;
}
