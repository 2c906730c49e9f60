/* libFuzzer target for modified UTF-7.
 * Properties: strict decoding is canonical (decode then encode gives the input back), and
 * encoding valid UTF-8 round-trips through decoding. No crash, leak or UB. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "imap/imap_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct buf a, b;
    buf_init(&a, 1 << 20);
    buf_init(&b, 1 << 20);

    int valid = imap_utf7_is_valid(s, size);
    int rc = imap_utf7_decode(s, size, &a);
    if ((rc == 0) != valid)
        abort();
    if (rc == 0) {
        if (imap_utf7_encode(a.data ? a.data : "", a.len, &b) != 0)
            abort();
        if (b.len != size || (size && memcmp(b.data, s, size) != 0))
            abort();
    }
    buf_reset(&a);
    buf_reset(&b);
    if (imap_utf7_encode(s, size, &a) == 0) {
        if (imap_utf7_decode(a.data ? a.data : "", a.len, &b) != 0)
            abort();
        if (b.len != size || (size && memcmp(b.data, s, size) != 0))
            abort();
    }
    buf_fini(&a);
    buf_fini(&b);
    return 0;
}
