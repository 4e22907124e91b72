/* SPDX-License-Identifier: MIT */
/* Scorer "spread": least allocated first, the mirror of binpack. */
#include "schedulers/internal.h"

static double spread_score(const struct sched_ctx *c, uint32_t hi)
{
	return 1 - sched_alloc_after(c, hi);
}

const struct sched_scorer_plugin sched_scorer_spread = {
    .name = "spread",
    .score = spread_score,
};
