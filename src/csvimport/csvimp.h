/* csvimp: the spec's « Migration multiple » CSV file → validated migration rows.
 *
 * Format (spec §2.b): `;`-separated, columns in this order:
 *   login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only
 * Parsing is done by libcsv (CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL, delimiter `;`,
 * quote `"`, libcsv's space trimming switched off so every byte of a field is kept).
 *
 * Rules (the decisions behind them are in docs and the tests):
 *  - Encoding: UTF-8 with or without BOM. A file that is not valid UTF-8 is decoded as
 *    Windows-1252 (what a French spreadsheet's « CSV (séparateur : point-virgule) » writes);
 *    the five bytes Windows-1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) are an error.
 *    A BOM followed by invalid UTF-8, or a file mixing valid multi-byte UTF-8 with invalid
 *    bytes, is refused rather than turned into mojibake.
 *  - Line ends CRLF, LF or CR. Truly empty lines are skipped; a line of separators only
 *    (`;;;;;`) is an error ("empty row"). A field may be quoted ("a;b", "say ""hi""") and a
 *    quoted field may span lines; lines are physical lines of the file, 1-based, and an
 *    error names the line where its row starts.
 *  - The header row is optional: the first row is a header when its six fields equal the
 *    column names (case-insensitive, surrounding spaces ignored). A first row starting with
 *    `login_source` that is not exactly the header is an error.
 *  - login_source and pass_source are kept byte for byte (no trimming, case kept: the spec
 *    says case matters). host_source, type_messagerie, login_destination and subscribed_only
 *    lose surrounding spaces and tabs.
 *  - type_messagerie: gmail, exchange, office, domino, defaut, case-insensitive, normalised
 *    to lower case.
 *  - host_source: HOST or HOST:PORT (port 1-65535); HOST is a DNS name (letters, digits,
 *    `-`, `_`; labels of 1-63 bytes; 253 bytes at most; one trailing dot allowed), an IPv4
 *    address or a bracketed IPv6 address `[2001:db8::1]`. Normalised to lower case. Empty only
 *    for gmail (imap.gmail.com) and office (outlook.office365.com), which then get their
 *    default host; port 0 in a row means "the default port".
 *  - subscribed_only: True/False in any case, 1/0; empty means False.
 *  - login_destination: a full address local@domain; the domain (compared case-insensitively,
 *    stored lower-cased) must be one of the hosted domains and, when the caller restricts the
 *    account, one of the account's domains.
 *  - A row equal to an earlier one on (login_source, host:port, login_destination) is an error
 *    naming the earlier line.
 *  - Limits: file size, rows, field length, errors collected (see struct csvimp_opts).
 *  - Error messages never quote a field's value (a missing quote can shift a password into
 *    another column); only the destination's domain is quoted. No password ever appears in
 *    a message.
 *  - Messages are in English, or in French with opts->french (the web UI's language, the
 *    `migrabox import` locale); both name the same line and column.
 *
 * All or nothing: csvimp_parse() returns either rows and no error, or errors and no row.
 */
#ifndef MB_CSVIMP_H
#define MB_CSVIMP_H

#include <stddef.h>

struct buf;

#define CSVIMP_COLUMNS 6
#define CSVIMP_DEFAULT_MAX_BYTES (8u * 1024 * 1024)
#define CSVIMP_DEFAULT_MAX_ROWS 20000u
#define CSVIMP_DEFAULT_MAX_FIELD 1024u
#define CSVIMP_DEFAULT_MAX_ERRORS 100u
#define CSVIMP_MAX_FIELD_LIMIT (64u * 1024) /* max_field is clamped to this */
#define CSVIMP_ERR_MSG 256                  /* room for the longer French wording */
#define CSVIMP_ERR_PARAMS 256

/* Column numbers (1-based, as in error reports). */
enum csvimp_column {
    CSVIMP_COL_NONE = 0, /* the error concerns the whole row or file */
    CSVIMP_COL_LOGIN_SOURCE = 1,
    CSVIMP_COL_PASS_SOURCE,
    CSVIMP_COL_HOST_SOURCE,
    CSVIMP_COL_TYPE,
    CSVIMP_COL_LOGIN_DESTINATION,
    CSVIMP_COL_SUBSCRIBED_ONLY,
};

struct csvimp_opts {
    size_t max_bytes;    /* 0 = CSVIMP_DEFAULT_MAX_BYTES */
    unsigned max_rows;   /* data rows; 0 = CSVIMP_DEFAULT_MAX_ROWS */
    size_t max_field;    /* bytes per field (after decoding); 0 = default */
    unsigned max_errors; /* errors collected before giving up; 0 = default */
    /* Hosted domains (required: with none, every destination is refused). Borrowed. */
    const char *const *domains;
    size_t n_domains;
    /* Account restriction (non-admin accounts): NULL = none. Borrowed. */
    const char *const *account_domains;
    size_t n_account_domains;
    int french; /* 1 = error messages in French; 0 = English (the default) */
    /* 1: an empty pass_source is accepted (the batch logs in through a source authentication
     * profile; a row that has a password uses it). */
    int allow_empty_password;
    /* [destination] separator: refused in destination local parts. NULL = none. Borrowed. */
    const char *separator;
};

struct csvimp_row {
    unsigned line;           /* physical line where the row starts */
    char *login_source;      /* byte for byte */
    char *pass_source;       /* byte for byte ("" only with allow_empty_password); wiped by
                                csvimp_result_fini */
    char *host;              /* lower case, IPv6 without brackets; never empty */
    unsigned port;           /* 0 = the default port */
    const char *server_type; /* static: "gmail" "exchange" "office" "domino" "defaut" */
    char *login_destination; /* local@domain, domain lower-cased */
    int subscribed_only;     /* 0 or 1 */
};

struct csvimp_error {
    unsigned line;   /* 0 = the file as a whole */
    unsigned column; /* enum csvimp_column */
    /* English "line N, column C (name): text", "line N: text", "text", or French
     * "ligne N, colonne C (name) : texte", "ligne N : texte", "texte" (opts->french); valid
     * UTF-8 even when cut to fit. */
    char message[CSVIMP_ERR_MSG];
    unsigned text_off; /* message + text_off: the text without its "line N…: " prefix */
    /* The problem as a coded message (msg/msgcat.def): its code (static) and parameters (a
     * JSON object), whatever the language of message. */
    const char *code;
    char params[CSVIMP_ERR_PARAMS];
};

struct csvimp_result {
    struct csvimp_row *rows; /* owned */
    size_t n_rows;
    struct csvimp_error *errors; /* owned */
    size_t n_errors;
    int errors_truncated; /* 1 when max_errors was reached and parsing stopped */
    const char *encoding; /* static: "utf-8", "utf-8-bom" or "windows-1252" */
};

/* Parse and validate len bytes of data. res is overwritten (it need not be initialised) and
 * must be released with csvimp_result_fini() whatever the outcome.
 * Returns 0 (res has n_rows > 0 rows and no error), MB_ETOOBIG (len > max_bytes) or
 * MB_ECONFIG (res has errors and no row). */
int csvimp_parse(const void *data, size_t len, const struct csvimp_opts *opts,
                 struct csvimp_result *res);
/* Wipe the passwords and free everything; res is left zeroed. Idempotent. */
void csvimp_result_fini(struct csvimp_result *res);

/* The column name for a column number ("login_source"), or "row" for 0. Static. */
const char *csvimp_column_name(unsigned column);

/* 1 if the local part of a destination address (len bytes) is acceptable: no ASCII control or
 * blank, none of "(),:;<>[\]@ and no Unicode blank or control (NBSP, U+2000-U+200F,
 * U+2028-U+202F, U+205F-U+206F, U+3000, U+FEFF, C1 controls), and not containing separator
 * (the master-user separator; NULL or "" = no check), which would let a mailbox name log in
 * as another user ("victim*admin"). */
int csvimp_local_part_ok(const char *p, size_t len, const char *separator);

/* Append the downloadable example file to out: the spec's header and five example rows,
 * `;`-separated, CRLF line ends, UTF-8 without BOM, every destination in domain. The file is
 * accepted by csvimp_parse() when domain is hosted. Returns 0, MB_ECONFIG (domain is not a
 * valid domain name) or MB_ETOOBIG (out's limit). */
int csvimp_sample(const char *domain, struct buf *out);

#endif
