/* SPDX-License-Identifier: MIT */
/* pvmctl: the operator CLI (see pvmctl(1)). */
#include <signal.h>

#include "cli/cli.h"

extern char **environ;

int main(int argc, char **argv)
{
	/* `pvmctl ... | head` must end quietly, not with SIGPIPE's status. */
	signal(SIGPIPE, SIG_IGN);
	return cli_main(argc, argv, environ);
}
