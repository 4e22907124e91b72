/* SPDX-License-Identifier: MIT */
/* Filter "max_guests": the host is below its maximum number of guests. */
#include <stdio.h>

#include "schedulers/internal.h"

static bool max_guests_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	bool ok = !h->max_guests || h->nguests < h->max_guests;

	if (reason) {
		if (h->max_guests)
			snprintf(reason, len, "%u of at most %u guests", h->nguests, h->max_guests);
		else
			snprintf(reason, len, "%u guests, no limit", h->nguests);
	}
	return ok;
}

const struct sched_filter_plugin sched_filter_max_guests = {
    .name = "max_guests",
    .check = max_guests_check,
};
