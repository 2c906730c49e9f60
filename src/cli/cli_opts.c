/* cli_opts: the migration option flags of `migrate` and `import` (cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mb_err.h"
#include "cli.h"
#include "migrate/mig_options.h"

void cli_say(const char *cmd, const struct mb_err *m)
{
    char *text = msg_render_err(msg_lang_from_env(), m);
    fprintf(stderr, "migrabox%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", text);
    free(text);
}

int cli_opts_add(struct cli_opt_flags *f, const char *cmd, int code, const char *arg)
{
    if (f->n == CLI_OPT_FLAGS_MAX) {
        fprintf(stderr, "migrabox %s: too many option flags\n", cmd);
        return -1;
    }
    f->code[f->n] = code;
    f->arg[f->n++] = arg;
    return 0;
}

int cli_opts_parse(const struct cli_opt_flags *f, struct mig_options *mo, struct mb_err *err)
{
    memset(mo, 0, sizeof(*mo));
    int rc = 0;
    for (size_t i = 0; i < f->n && !rc; i++) {
        switch (f->code[i]) {
        case 1001: rc = mig_options_set_since(mo, f->arg[i], err); break;
        case 1002: rc = mig_options_set_before(mo, f->arg[i], err); break;
        case 1003: rc = mig_options_add_exclude(mo, f->arg[i], err); break;
        case 1004: rc = mig_options_add_map_arg(mo, f->arg[i], err); break;
        case 1005: rc = mig_options_set_max_size(mo, f->arg[i], err); break;
        default: rc = mig_options_set_gmail_labels(mo, f->arg[i], err); break;
        }
    }
    return rc ? rc : mig_options_check(mo, err);
}
