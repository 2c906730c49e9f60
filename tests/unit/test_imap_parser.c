#define T_IMPLEMENTATION
#include "t.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/buf.h"
#include "imap/imap_parser.h"

/* ---- a canonical text form of responses, to compare runs ---- */

static void dump_arg(struct buf *b, const struct imap_arg *a)
{
    switch (a->type) {
    case IMAP_ARG_NIL: buf_puts(b, "NIL"); break;
    case IMAP_ARG_ATOM: buf_printf(b, "%s", a->str); break;
    case IMAP_ARG_STRING:
        buf_putc(b, '"');
        for (size_t i = 0; i < a->len; i++) {
            if (a->str[i] == '"' || a->str[i] == '\\')
                buf_putc(b, '\\');
            buf_putc(b, a->str[i]);
        }
        buf_putc(b, '"');
        break;
    case IMAP_ARG_LITERAL:
        buf_printf(b, "%s{%zu}", a->literal8 ? "~" : "", a->len);
        buf_append(b, a->str, a->len);
        break;
    case IMAP_ARG_LITERAL_STREAMED:
        buf_printf(b, "<streamed %llu>", (unsigned long long)a->literal_size);
        break;
    case IMAP_ARG_LIST:
        buf_putc(b, '(');
        for (size_t i = 0; i < a->count; i++) {
            if (i)
                buf_putc(b, ' ');
            dump_arg(b, &a->list[i]);
        }
        buf_putc(b, ')');
        break;
    }
}

static void dump_resp(struct buf *b, const struct imap_response *r)
{
    static const char *const types[] = {"U", "T", "C"};
    static const char *const st[] = {"-", "OK", "NO", "BAD", "BYE", "PREAUTH"};
    buf_printf(b, "%s %s %s |", types[r->type], r->tag, st[r->status]);
    for (size_t i = 0; i < r->nargs; i++) {
        buf_putc(b, ' ');
        dump_arg(b, &r->args[i]);
    }
    if (r->ncode) {
        buf_puts(b, " [");
        for (size_t i = 0; i < r->ncode; i++) {
            if (i)
                buf_putc(b, ' ');
            dump_arg(b, &r->code[i]);
        }
        buf_putc(b, ']');
    }
    if (r->type == IMAP_RESP_CONTINUATION || r->status != IMAP_STATUS_NONE)
        buf_printf(b, " text=<%s>", r->text);
    buf_putc(b, '\n');
}

/* ---- literal consumer: streams literals over stream_over bytes ---- */

struct lit_ctx {
    struct buf *out;
    uint64_t stream_over;
    int in_stream;
    size_t chunks;
};

static int lit_begin(void *ctx, struct imap_parser *p, uint64_t size)
{
    struct lit_ctx *lc = ctx;
    const struct imap_response *part = imap_parser_partial(p);
    if (size <= lc->stream_over)
        return IMAP_LITERAL_INLINE;
    /* Record what the consumer sees: the response so far and the key before the literal. */
    buf_printf(lc->out, "[begin %llu after %zu args]", (unsigned long long)size, part->nargs);
    lc->in_stream = 1;
    return IMAP_LITERAL_STREAM;
}

static int lit_chunk(void *ctx, const char *data, size_t n)
{
    struct lit_ctx *lc = ctx;
    lc->chunks++;
    return buf_append(lc->out, data, n);
}

static int lit_end(void *ctx)
{
    struct lit_ctx *lc = ctx;
    lc->in_stream = 0;
    return buf_puts(lc->out, "[end]\n");
}

static const struct imap_parser_literal_cbs lit_cbs = {lit_begin, lit_chunk, lit_end};

enum split { SPLIT_WHOLE, SPLIT_BYTE, SPLIT_RANDOM };

static uint32_t rng_state = 12345;
static size_t rng(size_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

/* Parse all of input with the given split; append the dumps to out. */
static void run(const struct imap_parser_limits *lim, uint64_t stream_over, const char *in,
                size_t len, enum split split, struct buf *out)
{
    struct imap_parser *p = imap_parser_new(lim);
    struct lit_ctx lc = {out, stream_over, 0, 0};
    if (stream_over != UINT64_MAX)
        imap_parser_set_literal_cbs(p, &lit_cbs, &lc);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (split == SPLIT_BYTE)
            n = 1;
        else if (split == SPLIT_RANDOM)
            n = 1 + rng(n < 40 ? n : 40);
        size_t pos = 0;
        while (pos < n) {
            size_t used;
            int rc = imap_parser_feed(p, in + off + pos, n - pos, &used);
            pos += used;
            if (rc == IMAP_PARSE_COMPLETE) {
                dump_resp(out, imap_parser_response(p));
            } else if (rc == IMAP_PARSE_ERROR) {
                buf_puts(out, "ERROR\n");
                imap_parser_free(&p);
                return;
            } else {
                T_ASSERT_INT(used, n - (pos - used));
                break;
            }
        }
        off += n;
    }
    if (imap_parser_in_progress(p))
        buf_puts(out, "TRUNCATED\n");
    imap_parser_free(&p);
}

/* Same results whole, byte by byte and in 50 random splits; returns the whole-run dump. */
static char *parse_all_ways(const struct imap_parser_limits *lim, uint64_t stream_over,
                            const char *in, size_t len)
{
    struct buf ref, b;
    buf_init(&ref, 1 << 24);
    buf_init(&b, 1 << 24);
    run(lim, stream_over, in, len, SPLIT_WHOLE, &ref);
    run(lim, stream_over, in, len, SPLIT_BYTE, &b);
    T_ASSERT_STR(buf_cstr(&b), buf_cstr(&ref));
    for (int i = 0; i < 50; i++) {
        buf_reset(&b);
        run(lim, stream_over, in, len, SPLIT_RANDOM, &b);
        if (strcmp(buf_cstr(&b), buf_cstr(&ref)) != 0) {
            T_ASSERT_STR(buf_cstr(&b), buf_cstr(&ref));
            break;
        }
    }
    buf_fini(&b);
    return buf_take(&ref, NULL);
}

static void expect(const char *in, const char *want)
{
    char *got = parse_all_ways(NULL, UINT64_MAX, in, strlen(in));
    T_ASSERT_STR(got, want);
    free(got);
}

/* RFC 3501 §8 (sample IMAP4rev1 connection) and §7 response examples. */
static void test_rfc3501(void)
{
    T_BEGIN("parser: RFC 3501 sample session, all splits identical");
    const char *in =
        "* OK IMAP4rev1 Service Ready\r\n"
        "a001 OK LOGIN completed\r\n"
        "* 18 EXISTS\r\n"
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        "* 2 RECENT\r\n"
        "* OK [UNSEEN 17] Message 17 is the first unseen message\r\n"
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        "a002 OK [READ-WRITE] SELECT completed\r\n"
        "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
        "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
        "\"IMAP4rev1 WG mtg summary and minutes\" "
        "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
        "((NIL NIL \"imap\" \"cac.washington.edu\")) NIL NIL "
        "\"<B27397-0100000@cac.washington.edu>\") "
        "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
        "a003 OK FETCH completed\r\n"
        "* 12 FETCH (BODY[HEADER] {32}\r\n"
        "Date: Wed, 17 Jul 1996\r\nX: y\r\n\r\n)\r\n"
        "a004 OK FETCH completed\r\n"
        "* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n"
        "a005 OK +FLAGS completed\r\n"
        "+ Ready for additional command text\r\n"
        "* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n"
        "* LIST () NIL \"\"\r\n"
        "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
        "* SEARCH 2 84 882\r\n"
        "* SEARCH\r\n"
        "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
        "* NO [ALERT] System shutdown in 10 minutes\r\n"
        "* BYE IMAP4rev1 Server logging out\r\n"
        "A003 BAD command unknown or arguments invalid\r\n"
        "* PREAUTH IMAP4rev1 server logged in as Smith\r\n"
        "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n";
    expect(in, "U * OK | OK text=<IMAP4rev1 Service Ready>\n"
               "T a001 OK | OK text=<LOGIN completed>\n"
               "U * - | 18 EXISTS\n"
               "U * - | FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n"
               "U * - | 2 RECENT\n"
               "U * OK | OK [UNSEEN 17] text=<Message 17 is the first unseen message>\n"
               "U * OK | OK [UIDVALIDITY 3857529045] text=<UIDs valid>\n"
               "T a002 OK | OK [READ-WRITE] text=<SELECT completed>\n"
               "U * - | 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
               "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
               "\"IMAP4rev1 WG mtg summary and minutes\" "
               "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
               "((NIL NIL \"imap\" \"cac.washington.edu\")) NIL NIL "
               "\"<B27397-0100000@cac.washington.edu>\") "
               "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\n"
               "T a003 OK | OK text=<FETCH completed>\n"
               "U * - | 12 FETCH (BODY[HEADER] {32}Date: Wed, 17 Jul 1996\r\nX: y\r\n\r\n)\n"
               "T a004 OK | OK text=<FETCH completed>\n"
               "U * - | 12 FETCH (FLAGS (\\Seen \\Deleted))\n"
               "T a005 OK | OK text=<+FLAGS completed>\n"
               "C + - | text=<Ready for additional command text>\n"
               "U * - | LIST (\\Noselect) \"/\" ~/Mail/foo\n"
               "U * - | LIST () NIL \"\"\n"
               "U * - | STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\n"
               "U * - | SEARCH 2 84 882\n"
               "U * - | SEARCH\n"
               "U * - | CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\n"
               "U * NO | NO [ALERT] text=<System shutdown in 10 minutes>\n"
               "U * BYE | BYE text=<IMAP4rev1 Server logging out>\n"
               "T A003 BAD | BAD text=<command unknown or arguments invalid>\n"
               "U * PREAUTH | PREAUTH text=<IMAP4rev1 server logged in as Smith>\n"
               "T A003 OK | OK [APPENDUID 38505 3955] text=<APPEND completed>\n");
    T_END();
}

/* Gmail: shapes of the responses in Google's "IMAP Extensions" documentation
 * (https://developers.google.com/gmail/imap/imap-extensions): greeting, CAPABILITY with
 * X-GM-EXT-1, ID, LIST with special-use attributes, X-GM-MSGID / X-GM-THRID / X-GM-LABELS
 * FETCH responses (labels as atoms, quoted strings, system labels, an empty list). */
static void test_gmail(void)
{
    T_BEGIN("parser: Gmail transcript (X-GM-LABELS, X-GM-MSGID)");
    const char *in =
        "* OK Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0\r\n"
        "a001 OK username@gmail.com authenticated (Success)\r\n"
        "* CAPABILITY IMAP4rev1 UNSELECT LITERAL+ IDLE NAMESPACE QUOTA ID XLIST CHILDREN "
        "X-GM-EXT-1\r\n"
        "a002 OK Success\r\n"
        "* ID (\"name\" \"GImap\" \"vendor\" \"Google, Inc.\" \"support-url\" "
        "\"http://mail.google.com/support\" \"remote-host\" \"127.0.0.1\")\r\n"
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
        "* LIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n"
        "* LIST (\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"\r\n"
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"[Gmail]/Sent Mail\"\r\n"
        "* 1 FETCH (X-GM-MSGID 1278455344230334865)\r\n"
        "* 1 FETCH (X-GM-THRID 1266894439832287888)\r\n"
        "* 1 FETCH (X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\"))\r\n"
        "* 2 FETCH (X-GM-LABELS (foo))\r\n"
        "* 3 FETCH (X-GM-LABELS ())\r\n"
        "* 4 FETCH (UID 4 X-GM-LABELS (\\Drafts \"&AMk-t&AOk-\") X-GM-MSGID 1278455344230334866 "
        "FLAGS (\\Seen))\r\n"
        "a010 OK FETCH (Success)\r\n";
    expect(in, "U * OK | OK text=<Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0>\n"
               "T a001 OK | OK text=<username@gmail.com authenticated (Success)>\n"
               "U * - | CAPABILITY IMAP4rev1 UNSELECT LITERAL+ IDLE NAMESPACE QUOTA ID XLIST "
               "CHILDREN X-GM-EXT-1\n"
               "T a002 OK | OK text=<Success>\n"
               "U * - | ID (\"name\" \"GImap\" \"vendor\" \"Google, Inc.\" \"support-url\" "
               "\"http://mail.google.com/support\" \"remote-host\" \"127.0.0.1\")\n"
               "U * - | LIST (\\HasNoChildren) \"/\" \"INBOX\"\n"
               "U * - | LIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\n"
               "U * - | LIST (\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"\n"
               "U * - | LIST (\\HasNoChildren \\Sent) \"/\" \"[Gmail]/Sent Mail\"\n"
               "U * - | 1 FETCH (X-GM-MSGID 1278455344230334865)\n"
               "U * - | 1 FETCH (X-GM-THRID 1266894439832287888)\n"
               "U * - | 1 FETCH (X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\"))\n"
               "U * - | 2 FETCH (X-GM-LABELS (foo))\n"
               "U * - | 3 FETCH (X-GM-LABELS ())\n"
               "U * - | 4 FETCH (UID 4 X-GM-LABELS (\\Drafts \"&AMk-t&AOk-\") X-GM-MSGID "
               "1278455344230334866 FLAGS (\\Seen))\n"
               "T a010 OK | OK text=<FETCH (Success)>\n");
    T_END();
}

/* Exchange / Office 365. Greeting with a bracketed token in the text and the CAPABILITY
 * list as logged from outlook.office365.com in MailKit issue #849
 * (https://github.com/jstedfast/MailKit/issues/849); throttling answers as quoted in the
 * imapsync Office 365 FAQ and issues #198/#212 (https://github.com/imapsync/imapsync/issues/198):
 * "NO Request is throttled. Suggested Backoff Time: N milliseconds", the same as BAD, then
 * "* BYE Connection closed. 14". Microsoft documents the throttling itself in "Exchange
 * Online limits" (https://learn.microsoft.com/office365/servicedescriptions/exchange-online-
 * service-description/exchange-online-limits). */
static void test_exchange(void)
{
    T_BEGIN("parser: Exchange / Office 365 transcript (throttling, BYE)");
    const char *in =
        "* OK The Microsoft Exchange IMAP4 service is ready. [TQBBADAAMAAwADAAMAAwADAAMAA=]\r\n"
        "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
        "CHILDREN IDLE NAMESPACE LITERAL+\r\n"
        "A00000000 OK CAPABILITY completed.\r\n"
        "A00000001 NO AUTHENTICATE failed.\r\n"
        "* 1 FETCH (UID 12 RFC822.SIZE 43498 FLAGS (\\Seen \\Answered) INTERNALDATE "
        "\"22-Oct-2018 19:58:29 -0300\")\r\n"
        "1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds\r\n"
        "A3 BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds\r\n"
        "* BYE Connection closed. 14\r\n";
    expect(in, "U * OK | OK text=<The Microsoft Exchange IMAP4 service is ready. "
               "[TQBBADAAMAAwADAAMAAwADAAMAA=]>\n"
               "U * - | CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID "
               "UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\n"
               "T A00000000 OK | OK text=<CAPABILITY completed.>\n"
               "T A00000001 NO | NO text=<AUTHENTICATE failed.>\n"
               "U * - | 1 FETCH (UID 12 RFC822.SIZE 43498 FLAGS (\\Seen \\Answered) INTERNALDATE "
               "\"22-Oct-2018 19:58:29 -0300\")\n"
               "T 1069 NO | NO text=<Request is throttled. Suggested Backoff Time: 299609 "
               "milliseconds>\n"
               "T A3 BAD | BAD text=<Request is throttled. Suggested Backoff Time: 178755 "
               "milliseconds>\n"
               "U * BYE | BYE text=<Connection closed. 14>\n");
    T_END();
}

/* HCL Domino: the IMAP service presents other users' and public mail files through
 * RFC 2342 namespaces ("Enabling the IMAP service to automatically display all accessible
 * mail folders", https://help.hcltechsw.com/domino/12.0.0/admin/
 * conf_enablingtheimapservicetoautomaticallydisplayallac_t.html); its hierarchy delimiter
 * is "\", which arrives as the quoted string "\\". */
static void test_domino(void)
{
    T_BEGIN("parser: Domino transcript (backslash delimiter, namespaces)");
    const char *in =
        "* OK Domino IMAP4 Server Release 12.0.2 ready Tue, 14 Nov 2023 10:12:01 +0100\r\n"
        "* NAMESPACE ((\"\" \"\\\\\")) ((\"Other Users\\\\\" \"\\\\\")) "
        "((\"Public Folders\\\\\" \"\\\\\"))\r\n"
        "A2 OK NAMESPACE completed\r\n"
        "* LIST (\\Noselect \\HasChildren) \"\\\\\" Archives\r\n"
        "* LIST (\\HasNoChildren) \"\\\\\" \"Archives\\\\2019 (old)\"\r\n"
        "* LIST (\\HasNoChildren) \"\\\\\" {13}\r\nDossier \"1\" &\r\n"
        "A3 OK LIST completed\r\n";
    expect(in, "U * OK | OK text=<Domino IMAP4 Server Release 12.0.2 ready Tue, 14 Nov 2023 "
               "10:12:01 +0100>\n"
               "U * - | NAMESPACE ((\"\" \"\\\\\")) ((\"Other Users\\\\\" \"\\\\\")) "
               "((\"Public Folders\\\\\" \"\\\\\"))\n"
               "T A2 OK | OK text=<NAMESPACE completed>\n"
               "U * - | LIST (\\Noselect \\HasChildren) \"\\\\\" Archives\n"
               "U * - | LIST (\\HasNoChildren) \"\\\\\" \"Archives\\\\2019 (old)\"\n"
               "U * - | LIST (\\HasNoChildren) \"\\\\\" {13}Dossier \"1\" &\n"
               "T A3 OK | OK text=<LIST completed>\n");
    T_END();
}

/* Dovecot 2.3.19 (Debian 12): lines captured from the test server of tests/integ
 * (dovecot.sh) with imap_tool --trace: greeting, LOGIN, ID, NAMESPACE, APPEND, EXAMINE,
 * FETCH, a master login to a missing user, a missing mailbox, LOGOUT. */
static void test_dovecot(void)
{
    T_BEGIN("parser: Dovecot transcript (capability code, EXAMINE, APPENDUID, errors)");
    const char *caps2 =
        "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
        "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
        "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
        "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
        "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE";
    struct buf in, want;
    buf_init(&in, 1 << 16);
    buf_init(&want, 1 << 16);
    buf_puts(&in, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                  "STARTTLS AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n");
    buf_printf(&in, "A1 OK [CAPABILITY %s] Logged in\r\n", caps2);
    buf_puts(&in,
             "* ID (\"name\" \"Dovecot\")\r\n"
             "A2 OK ID completed (0.001 + 0.000 secs).\r\n"
             "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
             "A3 OK Namespace completed (0.001 + 0.000 secs).\r\n"
             "* LIST () \"/\" INBOX\r\n"
             "A6 OK [APPENDUID 1795723087 1] Append completed (0.005 + 0.000 + 0.004 secs).\r\n"
             "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
             "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
             "* 1 EXISTS\r\n"
             "* 1 RECENT\r\n"
             "* OK [UIDVALIDITY 1795723087] UIDs valid\r\n"
             "* OK [UIDNEXT 2] Predicted next UID\r\n"
             "A7 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
             "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) INTERNALDATE \"17-Jul-1996 09:44:25 "
             "+0000\" RFC822.SIZE 5000)\r\n"
             "A1 NO [AUTHORIZATIONFAILED] Authorization failed\r\n"
             "A2 NO Mailbox doesn't exist: Nope (0.001 + 0.000 secs).\r\n"
             "A9 NO [TRYCREATE] Mailbox doesn't exist: INBOX.Big (0.001 + 0.000 secs).\r\n"
             "* BYE Logging out\r\n"
             "A10 OK Logout completed (0.001 + 0.000 secs).\r\n");
    buf_puts(&want, "U * OK | OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                    "LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN] text=<Dovecot (Debian) ready.>\n");
    buf_printf(&want, "T A1 OK | OK [CAPABILITY %s] text=<Logged in>\n", caps2);
    buf_puts(&want,
             "U * - | ID (\"name\" \"Dovecot\")\n"
             "T A2 OK | OK text=<ID completed (0.001 + 0.000 secs).>\n"
             "U * - | NAMESPACE ((\"\" \"/\")) NIL NIL\n"
             "T A3 OK | OK text=<Namespace completed (0.001 + 0.000 secs).>\n"
             "U * - | LIST () \"/\" INBOX\n"
             "T A6 OK | OK [APPENDUID 1795723087 1] text=<Append completed (0.005 + 0.000 + "
             "0.004 secs).>\n"
             "U * - | FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n"
             "U * OK | OK [PERMANENTFLAGS ()] text=<Read-only mailbox.>\n"
             "U * - | 1 EXISTS\n"
             "U * - | 1 RECENT\n"
             "U * OK | OK [UIDVALIDITY 1795723087] text=<UIDs valid>\n"
             "U * OK | OK [UIDNEXT 2] text=<Predicted next UID>\n"
             "T A7 OK | OK [READ-ONLY] text=<Examine completed (0.001 + 0.000 secs).>\n"
             "U * - | 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) INTERNALDATE \"17-Jul-1996 "
             "09:44:25 +0000\" RFC822.SIZE 5000)\n"
             "T A1 NO | NO [AUTHORIZATIONFAILED] text=<Authorization failed>\n"
             "T A2 NO | NO text=<Mailbox doesn't exist: Nope (0.001 + 0.000 secs).>\n"
             "T A9 NO | NO [TRYCREATE] text=<Mailbox doesn't exist: INBOX.Big (0.001 + 0.000 "
             "secs).>\n"
             "U * BYE | BYE text=<Logging out>\n"
             "T A10 OK | OK text=<Logout completed (0.001 + 0.000 secs).>\n");
    char *got = parse_all_ways(NULL, UINT64_MAX, in.data, in.len);
    T_ASSERT_STR(got, buf_cstr(&want));
    free(got);
    buf_fini(&in);
    buf_fini(&want);
    T_END();
}

static void test_tokens(void)
{
    T_BEGIN("parser: token corner cases");
    expect("* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {4}\r\nab\r\n BODY[]<0> ~{3}\r\n"
           "xyz X {0}\r\n)\r\n",
           "U * - | 3 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {4}ab\r\n BODY[]<0> ~{3}xyz "
           "X {0})\n");
    expect("A1 OK\r\nA2 NO [ALERT]\r\nA3 BAD [ALERT]text\r\n+\r\n+ dGVzdA==\r\n",
           "T A1 OK | OK text=<>\nT A2 NO | NO [ALERT] text=<>\n"
           "T A3 BAD | BAD [ALERT] text=<text>\nC + - | text=<>\nC + - | text=<dGVzdA==>\n");
    expect("* OK [ALERT] Don't (do \"this [now\r\n",
           "U * OK | OK [ALERT] text=<Don't (do \"this [now>\n");
    expect("* LIST (\\HasNoChildren) \".\" \"a \\\"b\\\" \\\\c\"\n* 1 EXISTS\n",
           "U * - | LIST (\\HasNoChildren) \".\" \"a \\\"b\\\" \\\\c\"\nU * - | 1 EXISTS\n");
    expect("* X () (()) ((a) b) nil Nil {5+}\r\nhello\r\n",
           "U * - | X () (()) ((a) b) NIL NIL {5}hello\n");
    expect("* LIST () \"/\" caf\xc3\xa9\r\n", "U * - | LIST () \"/\" caf\xc3\xa9\n");
    expect("* OK [BADCHARSET (UTF-8 \"x y\")] no\r\n",
           "U * OK | OK [BADCHARSET (UTF-8 \"x y\")] text=<no>\n");
    expect("* 1 OK x\r\n", "U * - | 1 OK x\n");
    expect("* OK  two spaces\r\n", "U * OK | OK text=< two spaces>\n");

    /* literal8 with NULs: check the bytes through the API */
    const char in[] = "* 1 FETCH (BINARY[] ~{3}\r\n\0\1\2)\r\n";
    struct imap_parser *p = imap_parser_new(NULL);
    size_t used;
    T_ASSERT_INT(imap_parser_feed(p, in, sizeof(in) - 1, &used), IMAP_PARSE_COMPLETE);
    T_ASSERT_INT(used, sizeof(in) - 1);
    const struct imap_response *r = imap_parser_response(p);
    T_ASSERT(r != NULL);
    if (r) {
        T_ASSERT_INT(r->nargs, 3);
        T_ASSERT_INT(r->args[2].count, 2);
        const struct imap_arg *lit = &r->args[2].list[1];
        T_ASSERT_INT(lit->type, IMAP_ARG_LITERAL);
        T_ASSERT_INT(lit->literal8, 1);
        T_ASSERT_INT(lit->len, 3);
        T_ASSERT_MEM(lit->str, "\0\1\2", 3);
    }
    /* the next response after a complete one */
    T_ASSERT_INT(imap_parser_feed(p, "* 2 EXISTS\r\n", 12, &used), IMAP_PARSE_COMPLETE);
    T_ASSERT_STR(imap_parser_response(p)->args[1].str, "EXISTS");
    imap_parser_free(&p);
    imap_parser_free(&p);
    T_END();
}

static void test_streamed_literals(void)
{
    T_BEGIN("parser: big literals are streamed in chunks, same bytes in every split");
    /* A 200 KB body between UID and FLAGS; streamed over 100 bytes, small ones inline. */
    struct buf in;
    buf_init(&in, 1 << 20);
    buf_puts(&in, "* 7 FETCH (UID 42 BODY[] {200000}\r\n");
    for (int i = 0; i < 200000; i++)
        buf_putc(&in, (char)('a' + i % 26));
    buf_puts(&in, " FLAGS (\\Seen))\r\n* 8 FETCH (UID 43 BODY[] {5}\r\nsmall)\r\nA1 OK done\r\n");
    char *got = parse_all_ways(NULL, 100, in.data, in.len);
    struct buf want;
    buf_init(&want, 1 << 20);
    buf_puts(&want, "[begin 200000 after 3 args]");
    for (int i = 0; i < 200000; i++)
        buf_putc(&want, (char)('a' + i % 26));
    buf_puts(&want, "[end]\nU * - | 7 FETCH (UID 42 BODY[] <streamed 200000> FLAGS (\\Seen))\n"
                    "U * - | 8 FETCH (UID 43 BODY[] {5}small)\nT A1 OK | OK text=<done>\n");
    T_ASSERT(strcmp(got, buf_cstr(&want)) == 0);
    free(got);

    /* Without callbacks the same literal is over the inline limit: error, no allocation. */
    got = parse_all_ways(NULL, UINT64_MAX, in.data, in.len);
    T_ASSERT_STR(got, "ERROR\n");
    free(got);

    /* The consumer sees the response so far at literal begin; chunks come straight from
     * the fed buffer (one chunk when fed whole). */
    struct imap_parser *p = imap_parser_new(NULL);
    struct buf out;
    buf_init(&out, 1 << 20);
    struct lit_ctx lc = {&out, 100, 0, 0};
    imap_parser_set_literal_cbs(p, &lit_cbs, &lc);
    size_t used;
    T_ASSERT_INT(imap_parser_feed(p, in.data, in.len, &used), IMAP_PARSE_COMPLETE);
    T_ASSERT_INT(lc.chunks, 1);
    T_ASSERT_INT(imap_parser_literal_left(p), 0);
    imap_parser_free(&p);
    buf_fini(&out);
    buf_fini(&in);
    buf_fini(&want);
    T_END();
}

static void test_limits(void)
{
    T_BEGIN("parser: limits (line, depth, items, literal size) give errors");
    struct imap_parser_limits lim;
    imap_parser_limits_default(&lim);
    lim.max_line = 100;
    char line[300];
    memset(line, 'x', sizeof(line));
    memcpy(line, "* OK ", 5);
    memcpy(line + 298, "\r\n", 2);
    char *got = parse_all_ways(&lim, UINT64_MAX, line, sizeof(line));
    T_ASSERT_STR(got, "ERROR\n");
    free(got);
    /* a literal does not count toward the line length */
    struct buf b;
    buf_init(&b, 4096);
    buf_puts(&b, "* 1 FETCH (BODY[] {1000}\r\n");
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, 'y');
    buf_puts(&b, ")\r\n");
    lim.max_inline_literal = 2000;
    got = parse_all_ways(&lim, UINT64_MAX, b.data, b.len);
    T_ASSERT(strncmp(got, "U * - | 1 FETCH (BODY[] {1000}yyy", 33) == 0);
    free(got);
    buf_fini(&b);

    /* nesting */
    imap_parser_limits_default(&lim);
    char deep[100] = "* X ";
    for (int i = 0; i < 33; i++)
        strcat(deep, "(");
    for (int i = 0; i < 33; i++)
        strcat(deep, ")");
    strcat(deep, "\r\n");
    got = parse_all_ways(&lim, UINT64_MAX, deep, strlen(deep));
    T_ASSERT_STR(got, "ERROR\n");
    free(got);
    deep[4 + 32] = ' '; /* 32 levels: accepted */
    deep[4 + 33 + 32] = ' ';
    got = parse_all_ways(&lim, UINT64_MAX, deep, strlen(deep));
    T_ASSERT(strncmp(got, "U * - | X ((((", 14) == 0);
    free(got);

    /* items */
    lim.max_items = 10;
    expect("* SEARCH 1 2 3 4 5 6 7\r\n", "U * - | SEARCH 1 2 3 4 5 6 7\n");
    got = parse_all_ways(&lim, UINT64_MAX, "* SEARCH 1 2 3 4 5 6 7 8 9 10 11\r\n", 35);
    T_ASSERT_STR(got, "ERROR\n");
    free(got);

    /* literal sizes: overflow and over 2 GiB, with or without a streaming consumer */
    expect("* 1 FETCH (BODY[] {99999999999999999999}\r\n", "ERROR\n");
    expect("* 1 FETCH (BODY[] {184467440737095516160}\r\n", "ERROR\n");
    expect("* 1 FETCH (BODY[] {4000000000}\r\n", "ERROR\n");
    got = parse_all_ways(NULL, 0, "* 1 FETCH (BODY[] {4000000000}\r\n", 32);
    T_ASSERT_STR(got, "ERROR\n");
    free(got);
    got = parse_all_ways(NULL, 0, "* 1 FETCH (BODY[] {2147483648}\r\nabc", 35);
    T_ASSERT_STR(got, "[begin 2147483648 after 3 args]abcTRUNCATED\n");
    free(got);
    /* inline total */
    imap_parser_limits_default(&lim);
    lim.max_inline_total = 10;
    got = parse_all_ways(&lim, UINT64_MAX, "* X {6}\r\nabcdef {6}\r\nabcdef\r\n", 29);
    T_ASSERT_STR(got, "ERROR\n");
    free(got);
    T_END();
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "\r\n",
        "\n",
        " * OK\r\n",
        "(a)\r\n",
        "\"tag\" OK\r\n",
        "{3}\r\nabc OK\r\n",
        "* \"unterminated\r\n",
        "* a\"b\r\n",
        "* (a))\r\n",
        "* (a\r\n",
        "* ]\r\n",
        "* {5x}\r\n",
        "* {}\r\n",
        "* {5\r\n",
        "* {5}x\r\n",
        "* {5}\rx",
        "* ~{5\r\n",
        "* \x01\r\n",
        "* a\x7f\r\n",
        "A1 OK [ALERT\r\n",
        "A1 OK [ALERT (x] y\r\n",
        "* \"a\\b\"\r\n",
        "* OK a\rb\n",
        "* OK a\0b\r\n",
        "* \"a\"b\r\n",
        "* (a)(b)\r\n",
        "* BODY[abc\r\n",
        "* 1 FETCH (BODY[] {3}\r\nabc\r\n",
        "A1 OK)\r\n",
        "A1 OK x\r\r\n",
    };
    T_BEGIN("parser: malformed responses are errors, in every split");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* strlen stops at the embedded NUL: pass explicit lengths for that one */
        size_t len = strlen(bad[i]);
        if (strncmp(bad[i], "* OK a", 6) == 0 && len == 6)
            len = 10;
        char *got = parse_all_ways(NULL, UINT64_MAX, bad[i], len);
        if (strcmp(got, "ERROR\n") != 0)
            fprintf(stderr, "  case %zu accepted: %s", i, got);
        T_ASSERT_STR(got, "ERROR\n");
        free(got);
    }
    /* the error message names the problem and the parser stays in error until reset */
    struct imap_parser *p = imap_parser_new(NULL);
    size_t used;
    T_ASSERT_INT(imap_parser_feed(p, "* (a))\r\n", 8, &used), IMAP_PARSE_ERROR);
    T_ASSERT(strstr(imap_parser_error(p), "unexpected ')'") != NULL);
    T_ASSERT_INT(imap_parser_feed(p, "* OK\r\n", 6, &used), IMAP_PARSE_ERROR);
    imap_parser_reset(p);
    T_ASSERT_INT(imap_parser_feed(p, "* OK\r\n", 6, &used), IMAP_PARSE_COMPLETE);
    imap_parser_free(&p);
    T_END();
}

static void test_truncated(void)
{
    T_BEGIN("parser: truncated input is reported as in progress");
    expect("* OK hello", "TRUNCATED\n");
    expect("* 1 FETCH (BODY[] {10}\r\nabc", "TRUNCATED\n");
    expect("* 1 FETCH (UID 1", "TRUNCATED\n");
    expect("* 1 FETCH (UID 1\r", "ERROR\n");
    expect("* OK done\r\n", "U * OK | OK text=<done>\n");
    T_END();
}

/* A consumer that aborts makes feed fail (the caller then drops the connection). */
static int abort_chunk(void *ctx, const char *d, size_t n)
{
    (void)ctx;
    (void)d;
    (void)n;
    return -1;
}

static int stream_begin(void *ctx, struct imap_parser *p, uint64_t size)
{
    (void)ctx;
    (void)p;
    (void)size;
    return IMAP_LITERAL_STREAM;
}

static int noop_end(void *ctx)
{
    (void)ctx;
    return 0;
}

static void test_consumer_abort(void)
{
    T_BEGIN("parser: a consumer error aborts the parse");
    static const struct imap_parser_literal_cbs cbs = {stream_begin, abort_chunk, noop_end};
    struct imap_parser *p = imap_parser_new(NULL);
    imap_parser_set_literal_cbs(p, &cbs, NULL);
    size_t used;
    const char in[] = "* 1 FETCH (BODY[] {3}\r\nabc)\r\n";
    T_ASSERT_INT(imap_parser_feed(p, in, sizeof(in) - 1, &used), IMAP_PARSE_ERROR);
    T_ASSERT(strstr(imap_parser_error(p), "aborted") != NULL);
    imap_parser_free(&p);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_rfc3501,   test_gmail,     test_exchange,          test_domino,
        test_dovecot,   test_tokens,    test_streamed_literals, test_limits,
        test_malformed, test_truncated, test_consumer_abort,    NULL};
    return t_run(fns);
}
