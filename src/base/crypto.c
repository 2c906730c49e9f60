#include "crypto.h"

#include <pthread.h>

#include <mbedtls/entropy.h>
#include <psa/crypto.h>

#include "secret.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static psa_status_t crypto_status = PSA_ERROR_BAD_STATE;

static void crypto_do_init(void)
{
    crypto_status = psa_crypto_init();
}

int crypto_init(struct mb_err *err)
{
    pthread_once(&crypto_once, crypto_do_init);
    if (crypto_status != PSA_SUCCESS)
        return mb_err_setsys(err, MB_ECRYPTO, (int)crypto_status,
                             "cannot initialise the crypto library (PSA status %d)",
                             (int)crypto_status);
    return 0;
}

int crypto_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    return secret_random(out, n, NULL) == 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}
