/* log: process log lines on stderr (journald picks them up under systemd).
 *
 *   2026-11-26T19:40:00Z info  http: GET /api/jobs 200 1.2 ms
 *
 * printf-checked; thread-safe (one write(2) per line). Never pass a secret: there is no
 * redaction here, the callers keep passwords out (see docs/ARCHITECTURE.md, "Secrets"). */
#ifndef MB_LOG_H
#define MB_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_NONE };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error"; returns -1 if unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
