/* cli: the subcommands of the migrabox binary. Each takes the arguments after its own
 * name (argv[0] is the subcommand name) and returns the process exit status. */
#ifndef MB_CLI_H
#define MB_CLI_H

int cli_serve(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_profile(int argc, char **argv);
int cli_store(int argc, char **argv);

struct config;
/* With [store] backend = postgresql, make every db_open of this process open the PostgreSQL
 * store (db_use_postgresql). 0, or -1 after printing why "migrabox CMD" cannot start. */
int cli_store_setup(const struct config *cfg, const char *cmd);

/* Exit statuses shared by the subcommands. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1, /* the operation ran and failed (e.g. migration ÉCHOUÉE) */
    CLI_EXIT_USAGE = 2,  /* bad command line or configuration */
    CLI_EXIT_UNAVAILABLE = 3,
};

/* The migration option flags (issue 13), shared by `migrate` and `import`: put
 * CLI_OPTION_LONGOPTS in the getopt_long table, hand every code in [CLI_OPT_FIRST,
 * CLI_OPT_LAST] with its argument to cli_opts_add, then build the options with cli_opts_parse
 * once the usage checks have passed (parsing allocates). */
#define CLI_OPT_FIRST 1001
#define CLI_OPT_LAST 1006
#define CLI_OPTION_LONGOPTS                                                                        \
    {"since", required_argument, NULL, 1001}, {"before", required_argument, NULL, 1002},           \
        {"exclude-folder", required_argument, NULL, 1003},                                         \
        {"map-folder", required_argument, NULL, 1004},                                             \
        {"max-message-size", required_argument, NULL, 1005},                                       \
    {                                                                                              \
        "gmail-labels", required_argument, NULL, 1006                                              \
    }
#define CLI_OPT_FLAGS_MAX 216 /* 2 x MIG_OPT_PATTERNS_MAX + the 4 single ones, and room */

struct cli_opt_flags {
    int code[CLI_OPT_FLAGS_MAX];
    const char *arg[CLI_OPT_FLAGS_MAX];
    size_t n;
};
struct mig_options;
struct mb_err;
/* "migrabox CMD: <m>" on stderr, m worded in the language of LC_ALL, LC_MESSAGES or LANG. */
void cli_say(const char *cmd, const struct mb_err *m);
/* Remember one flag; -1 (after printing "migrabox CMD: too many option flags") when full. */
int cli_opts_add(struct cli_opt_flags *f, const char *cmd, int code, const char *arg);
/* Parse and check the flags into *mo (zeroed first; mig_options_fini it in every case).
 * 0, or MB_ECONFIG with err saying which value is wrong. */
int cli_opts_parse(const struct cli_opt_flags *f, struct mig_options *mo, struct mb_err *err);

#endif
