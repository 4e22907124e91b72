/* SPDX-License-Identifier: MIT */
/* Filter "labels": the host's labels satisfy every term of the guest's selector. */
#include <stdio.h>

#include "schedulers/internal.h"

static bool labels_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	const struct sched_host *h = &c->f->cold[hi].h;

	if (!c->nsel) {
		if (reason)
			snprintf(reason, len, "no selector");
		return true;
	}
	return sched_selector_match(c->sel, c->nsel, h->labels, h->nlabels, reason, len);
}

const struct sched_filter_plugin sched_filter_labels = {
    .name = "labels",
    .check = labels_check,
};
