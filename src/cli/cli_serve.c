#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_serve(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: migrabox serve   [-c FILE]\n\nRun the appliance: web UI, JSON API and migration workers.\n");
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "migrabox serve: not available yet in this version\n");
    return CLI_EXIT_UNAVAILABLE;
}
