/* imap_date: RFC 3501 date-time (imap_date.h). */
#include "imap/imap_date.h"

#include <string.h>
#include <time.h>

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* The fields of s, checked: day, month 0-11, year, hour, minute, second, zone sign, zone
 * hours, zone minutes. Returns 0 when s is not a valid date-time. */
static int fields(const char *s, int f[9])
{
    /* "dd-Mon-yyyy hh:mm:ss +zzzz": 26 bytes, separators at fixed places */
    if (!s || strlen(s) != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':'
        || s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
        return 0;
    const char *p = strstr(months, (char[]){s[3], s[4], s[5], 0});
    if (!p || (p - months) % 3 != 0)
        return 0;
    if ((s[0] != ' ' && (s[0] < '0' || s[0] > '3')) || s[1] < '0' || s[1] > '9')
        return 0;
    f[0] = s[0] == ' ' ? s[1] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
    f[1] = (int)((p - months) / 3);
    static const int at[6] = {7, 12, 15, 18, 22, 24};
    static const int slot[6] = {2, 3, 4, 5, 7, 8};
    for (int i = 0; i < 6; i++) {
        const char *q = s + at[i];
        int n = i == 0 ? 4 : 2, v = 0;
        for (int k = 0; k < n; k++) {
            if (q[k] < '0' || q[k] > '9')
                return 0;
            v = v * 10 + (q[k] - '0');
        }
        f[slot[i]] = v;
    }
    f[6] = s[21] == '-' ? -1 : 1;
    return f[0] >= 1 && f[0] <= 31 && f[2] >= 1900 && f[3] <= 23 && f[4] <= 59 && f[5] <= 60
           && f[7] <= 23 && f[8] <= 59;
}

int imap_date_valid(const char *s)
{
    int f[9];
    return fields(s, f);
}

int64_t imap_date_parse(const char *s)
{
    int f[9];
    if (!fields(s, f))
        return 0;
    struct tm tm = {.tm_sec = f[5],
                    .tm_min = f[4],
                    .tm_hour = f[3],
                    .tm_mday = f[0],
                    .tm_mon = f[1],
                    .tm_year = f[2] - 1900};
    return (int64_t)timegm(&tm) - f[6] * (f[7] * 3600 + f[8] * 60);
}
