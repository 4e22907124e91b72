/* SPDX-License-Identifier: MIT */
/*
 * Scorer "exit_pressure": the exits per second the host would carry with the
 * guest on it (its guests' reported exits, plus the exits of every wanted
 * hook the host lacks: sched_guest_exits_on) as a load L against what its
 * cores absorb (cpus * exits_per_core). The score 1 / (1 + L^2) is nearly flat
 * while the host has headroom, so it leaves packing to binpack there, and
 * falls steeply as L nears and passes 1: exit-heavy guests (emulated ones)
 * do not pile onto one host, and the host whose hooks save the guest exits
 * wins.
 */
#include "schedulers/internal.h"

static double exit_pressure_score(const struct sched_ctx *c, uint32_t hi)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	uint32_t usable = sched_usable_hooks(h->hooks, h->abi_versions, c->g->abi_version);
	double load = (double)(h->exits_milli + c->exits_milli[usable]) /
		      (SCHED_MILLI * (double)h->cpus * c->p->exits_per_core);

	return 1 / (1 + load * load);
}

const struct sched_scorer_plugin sched_scorer_exit_pressure = {
    .name = "exit_pressure",
    .score = exit_pressure_score,
};
