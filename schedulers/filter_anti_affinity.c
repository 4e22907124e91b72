/* SPDX-License-Identifier: MIT */
/*
 * Filter "anti_affinity": no other guest of the guest's anti-affinity group
 * runs on the host. Before the scan, the hosts of the group's members are
 * stamped, so the check per host is one comparison.
 */
#include <stdio.h>
#include <string.h>

#include "schedulers/internal.h"

static void anti_affinity_prepare(struct sched_ctx *c)
{
	struct sched_fleet *f = c->f;

	if (c->group < 0)
		return;
	if (++f->stamp == 0) {
		for (uint32_t i = 0; i < f->nhosts; i++)
			f->hot[i].aa_stamp = 0;
		f->stamp = 1;
	}
	for (int32_t gi = f->groups[c->group].first_guest; gi >= 0; gi = f->guests[gi].gnext)
		if (strcmp(f->guests[gi].id, c->g->id))
			f->hot[f->guests[gi].host].aa_stamp = f->stamp;
}

static bool anti_affinity_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	bool ok = c->group < 0 || c->f->hot[hi].aa_stamp != c->f->stamp;

	if (reason) {
		if (!c->g->anti_affinity[0])
			snprintf(reason, len, "no group");
		else
			snprintf(reason, len,
				 ok ? "no guest of group %s here" : "a guest of group %s runs here",
				 c->g->anti_affinity);
	}
	return ok;
}

const struct sched_filter_plugin sched_filter_anti_affinity = {
    .name = "anti_affinity",
    .prepare = anti_affinity_prepare,
    .check = anti_affinity_check,
};
