/* migrabox: mailbox-migration appliance. Command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "version.h"

static const char usage[] =
    "usage: migrabox COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  serve   [-c FILE]                  run the appliance (web UI + API + workers)\n"
    "  migrate [-c FILE] --source-host HOST[:PORT] --source-user LOGIN\n"
    "          --type gmail|exchange|office|domino|defaut --dest-user ADDRESS\n"
    "          [--subscribed-only] [--source-tls auto|implicit|starttls|none]\n"
    "          [--insecure] [--source-password-file FILE] [--auth-profile NAME]\n"
    "          [--quiet]                  one migration in the foreground\n"
    "  import  [-c FILE] [--dry-run] [--auth-profile NAME] FILE.csv\n"
    "                                     queue a CSV batch\n"
    "  user add NAME [--domain D ...] [--admin] [-c FILE]\n"
    "                                     create a web account (password from stdin\n"
    "                                     or MIGRABOX_PASSWORD)\n"
    "  user list | passwd NAME | delete NAME [-c FILE]\n"
    "                                     list, change or delete web accounts\n"
    "  profile add NAME --kind microsoft365|google|imap-admin ... [-c FILE]\n"
    "  profile list | delete NAME [-c FILE]\n"
    "                                     source authentication profiles (OAuth2 app,\n"
    "                                     service account, IMAP admin login)\n"
    "  store check | migrate [-c FILE]    the PostgreSQL store of [store] url: connect\n"
    "                                     and update its schema / copy data_dir's\n"
    "                                     SQLite store into it\n"
    "  --version                          print the version\n"
    "  --help                             this text; 'migrabox COMMAND --help' for more\n"
    "\n"
    "Secrets are never read from the command line: the source password comes from\n"
    "MIGRABOX_SOURCE_PASSWORD or --source-password-file.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("migrabox %s\n", MIGRABOX_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "serve") == 0)
        return cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "migrate") == 0)
        return cli_migrate(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return cli_import(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return cli_user(argc - 1, argv + 1);
    if (strcmp(cmd, "profile") == 0)
        return cli_profile(argc - 1, argv + 1);
    if (strcmp(cmd, "store") == 0)
        return cli_store(argc - 1, argv + 1);
    fprintf(stderr, "migrabox: unknown command '%s'\n\n%s", cmd, usage);
    return CLI_EXIT_USAGE;
}
