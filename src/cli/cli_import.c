#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_import(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: migrabox import  [-c FILE] FILE.csv\n\nQueue a CSV batch of migrations.\n");
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "migrabox import: not available yet in this version\n");
    return CLI_EXIT_UNAVAILABLE;
}
