/* SPDX-License-Identifier: MIT */
/*
 * The host's own cost of one vCPU exit on a platform, measured as
 * bench_hooks measures exit_raw_ns: the bare microguest run once writing N
 * times to a port nobody serves and once writing none, the difference in
 * host wall time over N; the median of a few such pairs. The scheduler
 * turns it into how many exits one of this host's cores serves a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon/vmm.h"

#define COST_REPEATS 3

static int run_once(const char *vmm, const char *image, const char *platform, unsigned exits,
		    uint64_t *ns, struct pvm_err *err)
{
	char cmdline[64];
	char *argv[] = {(char *)vmm, "run",	    "--platform", (char *)platform,
			"--image",   (char *)image, "--cmdline",  cmdline,
			"--mem",     "16",	    (char *)NULL};
	struct pvmd_spawn sp = {.argv = argv, .log_path = "/dev/null"};
	uint64_t t0 = pvm_now_ns();
	int status = 0, ret;
	pid_t pid;

	snprintf(cmdline, sizeof(cmdline), "mode=pv doorbells=0 exits=%u", exits);
	ret = pvmd_spawn(&sp, &pid, err);
	if (ret < 0)
		return ret;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return pvm_err_set(err, -errno, "exit cost: wait: %s", strerror(errno));
	*ns = pvm_now_ns() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return pvm_err_set(err, -EIO, "exit cost: %s on %s exited with status %d", image,
				   platform, status);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int pvmd_vmm_exit_cost(const char *vmm, const char *image, const char *platform, unsigned exits,
		       double *ns, struct pvm_err *err)
{
	double per[COST_REPEATS];
	uint64_t with, without;
	int ret;

	if (!exits)
		return pvm_err_set(err, -EINVAL, "exit cost: no exits to time");
	for (int i = 0; i < COST_REPEATS; i++) {
		ret = run_once(vmm, image, platform, exits, &with, err);
		if (ret == 0)
			ret = run_once(vmm, image, platform, 0, &without, err);
		if (ret < 0)
			return ret;
		per[i] = ((double)with - (double)without) / exits;
	}
	qsort(per, COST_REPEATS, sizeof(per[0]), cmp_double);
	/* Spawn noise larger than the exits themselves: no figure, not a wrong one. */
	if (per[COST_REPEATS / 2] <= 0)
		return pvm_err_set(err, -EAGAIN, "exit cost on %s: below the noise of %u exits",
				   platform, exits);
	*ns = per[COST_REPEATS / 2];
	return 0;
}
