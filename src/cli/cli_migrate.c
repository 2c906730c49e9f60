#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_migrate(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: migrabox migrate [-c FILE] --source-host HOST[:PORT] --source-user LOGIN --type TYPE --dest-user ADDRESS ...\n\nRun one migration in the foreground.\n");
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "migrabox migrate: not available yet in this version\n");
    return CLI_EXIT_UNAVAILABLE;
}
