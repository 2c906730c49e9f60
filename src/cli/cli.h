/* cli: the subcommands of the migrabox binary. Each takes the arguments after its own
 * name (argv[0] is the subcommand name) and returns the process exit status. */
#ifndef MB_CLI_H
#define MB_CLI_H

int cli_serve(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_profile(int argc, char **argv);

/* Exit statuses shared by the subcommands. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1, /* the operation ran and failed (e.g. migration ÉCHOUÉE) */
    CLI_EXIT_USAGE = 2,  /* bad command line or configuration */
    CLI_EXIT_UNAVAILABLE = 3,
};

#endif
