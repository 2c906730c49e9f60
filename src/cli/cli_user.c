#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_user(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "migrabox user: not available yet in this version\n");
    return CLI_EXIT_UNAVAILABLE;
}
