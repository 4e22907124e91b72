/* SPDX-License-Identifier: MIT */
/*
 * Scorer "exit_pressure": the exits per second the host would carry with the
 * guest on it (its guests' reported exits, plus the exits of every wanted
 * hook the host lacks: sched_guest_exits_on) against what its cores absorb,
 * L = exits / (cpus * exits_per_core): the share of the host's CPU time that
 * exit handling would take, where exits_per_core is 1e9 over the host's own
 * measured cost of an exit when it reported one (sched_exit_capacity). Up to HEADROOM it costs
 * nothing, so packing is left to binpack; beyond, the score 1 / (1 + ((L - HEADROOM) / SCALE)^2)
 * halves by L = 0.3 and keeps falling: exit-heavy guests (emulated ones, pv
 * guests without their hooks) do not pile onto one host, and a host whose
 * hooks save the guest its exits wins over one that does not.
 */
#include "schedulers/internal.h"

#define HEADROOM 0.1
#define SCALE	 0.2

/* The score of an exit load; it never grows with the load. */
static double pressure(double load)
{
	double over = (load - HEADROOM) / SCALE;

	return load <= HEADROOM ? 1 : 1 / (1 + over * over);
}

static double exit_pressure_score(const struct sched_ctx *c, uint32_t hi)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	uint32_t usable = sched_usable_hooks(h->hooks, h->abi_versions, c->g->abi_version);

	return pressure((double)(h->exits_milli + c->exits_milli[usable]) /
			(SCHED_MILLI * sched_exit_capacity(h, c->p)));
}

/* The least loaded a host of the span can be. */
static double exit_pressure_bound(const struct sched_ctx *c, const struct sched_span *s)
{
	if (s->max_exit_capacity <= 0)
		return 1;
	return pressure((double)(s->min_exits_milli + c->exits_milli[s->usable_hooks]) /
			(SCHED_MILLI * s->max_exit_capacity));
}

const struct sched_scorer_plugin sched_scorer_exit_pressure = {
    .name = "exit_pressure",
    .score = exit_pressure_score,
    .bound = exit_pressure_bound,
};
