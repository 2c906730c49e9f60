#define T_IMPLEMENTATION
#include "t.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "base/pwhash.h"
#include "base/sha256.h"
#include "base/secret.h"

static void test_box_roundtrip(void)
{
    T_BEGIN("secret box seals and opens, nonces differ");
    struct secret_box box;
    char path[512];
    snprintf(path, sizeof(path), "%s/key1", t_tmpdir());
    T_ASSERT_INT(secret_box_load(&box, path, NULL), 0);
    struct stat st;
    T_ASSERT_INT(stat(path, &st), 0);
    T_ASSERT_INT(st.st_mode & 0777, 0600);
    T_ASSERT_INT(st.st_size, SECRET_KEY_LEN);

    const char pw[] = "p@ss;\"wörd\x01";
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    T_ASSERT_INT(secret_box_seal(&box, "ctx", pw, sizeof(pw) - 1, &a, &alen, NULL), 0);
    T_ASSERT_INT(secret_box_seal(&box, "ctx", pw, sizeof(pw) - 1, &b, &blen, NULL), 0);
    T_ASSERT_INT(alen, sizeof(pw) - 1 + SECRET_BOX_OVERHEAD);
    T_ASSERT(memcmp(a, b, alen) != 0);
    T_ASSERT(memmem(a, alen, "p@ss", 4) == NULL);

    /* A second load of the same file gives the same key. */
    struct secret_box box2;
    T_ASSERT_INT(secret_box_load(&box2, path, NULL), 0);
    struct secret out = {0};
    T_ASSERT_INT(secret_box_open(&box2, "ctx", a, alen, &out, NULL), 0);
    T_ASSERT_INT(out.len, sizeof(pw) - 1);
    T_ASSERT_MEM(out.data, pw, sizeof(pw) - 1);
    secret_fini(&out);
    T_ASSERT(out.data == NULL);
    free(a);
    free(b);
    secret_box_fini(&box);
    secret_box_fini(&box2);
    T_END();
}

static void test_box_tamper(void)
{
    T_BEGIN("secret box refuses tampered data, wrong context and wrong key");
    unsigned char k1[SECRET_KEY_LEN] = {1}, k2[SECRET_KEY_LEN] = {2};
    struct secret_box box, other;
    secret_box_init_key(&box, k1);
    secret_box_init_key(&other, k2);
    unsigned char *s = NULL;
    size_t n = 0;
    T_ASSERT_INT(secret_box_seal(&box, "job", "hunter2", 7, &s, &n, NULL), 0);
    struct secret out = {0};
    struct mb_err err = {0};
    for (size_t i = 0; i < n; i++) {
        s[i] ^= 0x40;
        int rc = secret_box_open(&box, "job", s, n, &out, &err);
        s[i] ^= 0x40;
        if (rc != MB_ECRYPTO) {
            T_ASSERT(!"tampered byte accepted");
            break;
        }
    }
    T_ASSERT(out.data == NULL);
    T_ASSERT(strstr(err.msg, "hunter2") == NULL);
    T_ASSERT_INT(secret_box_open(&box, "other", s, n, &out, NULL), MB_ECRYPTO);
    T_ASSERT_INT(secret_box_open(&other, "job", s, n, &out, NULL), MB_ECRYPTO);
    T_ASSERT_INT(secret_box_open(&box, "job", s, n - 1, &out, NULL), MB_ECRYPTO);
    T_ASSERT_INT(secret_box_open(&box, "job", s, 5, &out, NULL), MB_ECRYPTO);
    T_ASSERT_INT(secret_box_open(&box, "job", s, n, &out, NULL), 0);
    T_ASSERT_STR(out.data, "hunter2");
    secret_fini(&out);
    free(s);
    T_END();
}

static void test_key_file_checks(void)
{
    T_BEGIN("key file with wrong mode or size is refused");
    char path[512];
    snprintf(path, sizeof(path), "%s/key2", t_tmpdir());
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    T_ASSERT(fd >= 0);
    T_ASSERT_INT(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
    close(fd);
    chmod(path, 0644);
    struct secret_box box;
    struct mb_err err = {0};
    T_ASSERT_INT(secret_box_load(&box, path, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "chmod 600") != NULL);
    chmod(path, 0600);
    T_ASSERT_INT(secret_box_load(&box, path, &err), 0);
    fd = open(path, O_WRONLY | O_APPEND);
    T_ASSERT_INT(write(fd, "x", 1), 1);
    close(fd);
    T_ASSERT_INT(secret_box_load(&box, path, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "exactly 32 bytes") != NULL);
    secret_box_fini(&box);
    T_END();
}

static void test_pwhash(void)
{
    T_BEGIN("PBKDF2 password hash verifies the right password only");
    char h1[PWHASH_MAX_LEN], h2[PWHASH_MAX_LEN];
    T_ASSERT_INT(pwhash_make("correct horse", 13, h1, NULL), 0);
    T_ASSERT(strncmp(h1, "pbkdf2-sha256$210000$", 21) == 0);
    T_ASSERT_INT(pwhash_make("correct horse", 13, h2, NULL), 0);
    T_ASSERT(strcmp(h1, h2) != 0); /* random salt */
    T_ASSERT_INT(pwhash_verify("correct horse", 13, h1, NULL), 1);
    T_ASSERT_INT(pwhash_verify("correct horse", 13, h2, NULL), 1);
    T_ASSERT_INT(pwhash_verify("correct hors", 12, h1, NULL), 0);
    T_ASSERT_INT(pwhash_verify("Correct horse", 13, h1, NULL), 0);
    T_ASSERT_INT(pwhash_verify("", 0, h1, NULL), 0);
    T_ASSERT(strstr(h1, "horse") == NULL);
    T_ASSERT(pwhash_verify("x", 1, "md5$abc", NULL) < 0);
    T_ASSERT(pwhash_verify("x", 1, "pbkdf2-sha256$12$AAAA$BBBB", NULL) < 0);
    T_ASSERT(pwhash_verify("x", 1, "pbkdf2-sha256$210000$AAAAAAAAAAAAAAAAAAAAAA==", NULL) < 0);
    T_END();
}

/* RFC 7914 section 11's PBKDF2-HMAC-SHA256 vectors (their first 32 bytes), and agreement
 * with mbedTLS's PBKDF2 on passwords around the 64-byte HMAC block and salts of every
 * length, on the CPU's SHA-256 and on the portable one. */
static void test_pbkdf2(void)
{
    T_BEGIN("PBKDF2-HMAC-SHA256: RFC 7914 vectors, same keys as mbedTLS (SHA-NI and portable)");
    static const unsigned char v1[32] = {0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f,
                                         0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
                                         0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65,
                                         0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc};
    static const unsigned char v2[32] = {0x4d, 0xdc, 0xd8, 0xf6, 0x0b, 0x98, 0xbe, 0x21,
                                         0x83, 0x0c, 0xee, 0x5e, 0xf2, 0x27, 0x01, 0xf9,
                                         0x64, 0x1a, 0x44, 0x18, 0xd0, 0x4c, 0x04, 0x14,
                                         0xae, 0xff, 0x08, 0x87, 0x6b, 0x34, 0xab, 0x56};
    for (int portable = 0; portable <= 1; portable++) {
        sha256_force_portable(portable);
        unsigned char k[32], want[32];
        pwhash_pbkdf2_sha256((const unsigned char *)"passwd", 6, (const unsigned char *)"salt", 4,
                             1, k);
        T_ASSERT_MEM(k, v1, 32);
        pwhash_pbkdf2_sha256((const unsigned char *)"Password", 8, (const unsigned char *)"NaCl", 4,
                             80000, k);
        T_ASSERT_MEM(k, v2, 32);
        unsigned char pw[200], salt[80];
        for (size_t i = 0; i < sizeof(pw); i++)
            pw[i] = (unsigned char)(i * 7 + 3);
        for (size_t i = 0; i < sizeof(salt); i++)
            salt[i] = (unsigned char)(i * 13 + 1);
        static const size_t pwl[] = {0, 1, 32, 63, 64, 65, 128, 200};
        for (size_t a = 0; a < sizeof(pwl) / sizeof(pwl[0]); a++)
            for (size_t sl = 0; sl <= sizeof(salt); sl += 9) {
                unsigned it = (unsigned)(1 + (a + sl) % 5);
                pwhash_pbkdf2_sha256(pw, pwl[a], salt, sl, it, k);
                T_ASSERT_INT(mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, pw, pwl[a], salt, sl,
                                                           it, sizeof(want), want),
                             0);
                T_ASSERT_MEM(k, want, 32);
            }
    }
    sha256_force_portable(0);
    T_END();
}

static void test_ct_equal(void)
{
    T_BEGIN("constant-time compare");
    T_ASSERT(secret_ct_equal("abc", "abc", 3));
    T_ASSERT(!secret_ct_equal("abc", "abd", 3));
    T_ASSERT(secret_ct_equal("", "", 0));
    unsigned char r1[16] = {0}, r2[16] = {0};
    T_ASSERT_INT(secret_random(r1, sizeof(r1), NULL), 0);
    T_ASSERT_INT(secret_random(r2, sizeof(r2), NULL), 0);
    T_ASSERT(!secret_ct_equal(r1, r2, sizeof(r1)));
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_box_roundtrip,
                                        test_box_tamper,
                                        test_key_file_checks,
                                        test_pwhash,
                                        test_pbkdf2,
                                        test_ct_equal,
                                        NULL};
    return t_run(fns);
}
