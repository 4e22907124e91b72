/* SPDX-License-Identifier: MIT */
/* Filter "state": the host is ready, not cordoned and not draining. */
#include <stdio.h>

#include "schedulers/internal.h"

static bool state_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	const char *why = NULL;

	if (h->state != SCHED_HOST_READY)
		why = sched_host_state_name((enum sched_host_state)h->state);
	else if (h->draining)
		why = "draining";
	else if (h->cordoned)
		why = "cordoned";
	if (reason)
		snprintf(reason, len, "%s", why ? why : "ready");
	return why == NULL;
}

const struct sched_filter_plugin sched_filter_state = {
    .name = "state",
    .per_class = true,
    .check = state_check,
};
