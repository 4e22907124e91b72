/* SPDX-License-Identifier: MIT */
/*
 * The overload model. Each second, each guest's activity is its mean times a
 * bursty factor (a log-normal AR(1): x' = 0.8 x + 0.35 e, mean 1), and it
 * wants the host CPU time its work costs on its host, never more than its
 * vCPUs. The cost is the recorded profile's (sim_profile.c): each unit of
 * work at the CPU its workload took alone on one host CPU, through the hook
 * where the guest wants it and the host offers it, on the emulated twin
 * where not; the exits outside that work (and the agent and halt hooks,
 * which the profile does not cover) at the profile's CPU per exit. A
 * host-second is overloaded when its guests want more CPU time than it has
 * CPUs.
 *
 * The scheduler never sees this truth: it sees noisy counted statistics
 * (or none) and prices exits with its own formula (spec.c), and nothing of
 * compute demand or bursts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/sim.h"

#define AR_RHO	 0.8
#define AR_SIGMA 0.35

static uint32_t usable_hooks(const struct sched_sim_guest *g, const struct sched_host *h)
{
	if (g->spec.abi_version && (h->abi_versions >> g->spec.abi_version) & 1u)
		return h->hooks;
	return 0;
}

/* How work w runs for guest g on a host offering `usable`. */
static enum sched_sim_variant variant(const struct sched_sim_guest *g, enum sched_sim_work w,
				      uint32_t usable)
{
	uint32_t wanted = g->spec.hooks_required | g->spec.hooks_preferred;
	int hook = sched_sim_work_hook(w);

	if (hook >= 0 && (wanted & usable & (1u << hook)))
		return SCHED_SIM_VAR_PV;
	return SCHED_SIM_VAR_EMULATED;
}

/* Exits of the hooks the profile does not cover, where the host lacks them. */
static double unprofiled_exits(const struct sched_sim_guest *g, uint32_t usable)
{
	uint32_t wanted = g->spec.hooks_required | g->spec.hooks_preferred;
	double exits = g->base_exits_per_s;

	for (unsigned int k = 0; k < PV_HOOK_COUNT; k++)
		if (k != PV_HOOK_CONSOLE && k != PV_HOOK_BLOCK && k != PV_HOOK_CLOCK &&
		    ((wanted & ~usable) & (1u << k)))
			exits += g->truth.exits_avoided_per_s[k];
	return exits;
}

double sched_sim_true_exits(const struct sched_sim *s, const struct sched_sim_guest *g,
			    const struct sched_host *h)
{
	uint32_t usable = usable_hooks(g, h);
	double exits = unprofiled_exits(g, usable);

	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		exits += g->work[w] *
			 sched_sim_profile_exits_per_unit(&s->profile, w, variant(g, w, usable));
	return exits;
}

double sched_sim_true_cpu(const struct sched_sim *s, const struct sched_sim_guest *g,
			  const struct sched_host *h)
{
	uint32_t usable = usable_hooks(g, h);
	double cpu = unprofiled_exits(g, usable) * s->cpu_per_exit_s;

	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		cpu += g->work[w] *
		       sched_sim_profile_cpu_per_unit(&s->profile, w, variant(g, w, usable));
	return cpu < g->spec.vcpus ? cpu : g->spec.vcpus;
}

int sched_sim_overload(const struct sched_sim *s, const int32_t *placement, uint32_t seconds,
		       uint64_t seed, struct sched_sim_load *out)
{
	struct sched_sim_rng r = {.s = seed ^ UINT64_C(0x5eed0f10ad)};
	double *x = calloc(s->nguests ? s->nguests : 1, sizeof(*x));
	double *mean = calloc(s->nguests ? s->nguests : 1, sizeof(*mean));
	double *exit_part = calloc(s->nguests ? s->nguests : 1, sizeof(*exit_part));
	double *demand = calloc(s->nhosts ? s->nhosts : 1, sizeof(*demand));
	/* Stationary variance of x, so that E[exp(x - var/2)] = 1. */
	const double var = AR_SIGMA * AR_SIGMA / (1 - AR_RHO * AR_RHO);
	double exit_time = 0, all_time = 0;
	uint32_t used = 0;
	bool *in_use = calloc(s->nhosts ? s->nhosts : 1, sizeof(*in_use));
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!x || !mean || !exit_part || !demand || !in_use) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->nguests; i++) {
		const struct sched_sim_guest *g = &s->guests[i];
		const struct sched_host *h;

		if (placement[i] < 0)
			continue;
		in_use[placement[i]] = true;
		h = &s->hosts[placement[i]];
		mean[i] = sched_sim_true_cpu(s, g, h);
		exit_part[i] = sched_sim_true_exits(s, g, h) * s->cpu_per_exit_s;
		if (exit_part[i] > mean[i])
			exit_part[i] = mean[i];
		x[i] = sqrt(var) * sched_sim_normal(&r);
	}
	for (uint32_t h = 0; h < s->nhosts; h++)
		used += in_use[h];
	for (uint32_t t = 0; t < seconds; t++) {
		memset(demand, 0, s->nhosts * sizeof(*demand));
		for (uint32_t i = 0; i < s->nguests; i++) {
			double a, want;

			if (placement[i] < 0)
				continue;
			x[i] = AR_RHO * x[i] + AR_SIGMA * sched_sim_normal(&r);
			a = exp(x[i] - var / 2);
			want = a * mean[i];
			if (want > s->guests[i].spec.vcpus)
				want = s->guests[i].spec.vcpus;
			demand[placement[i]] += want;
			all_time += want;
			exit_time += want * (mean[i] > 0 ? exit_part[i] / mean[i] : 0);
		}
		for (uint32_t h = 0; h < s->nhosts; h++)
			if (in_use[h] && demand[h] > s->hosts[h].cpus)
				out->overloaded_seconds++;
	}
	out->host_seconds = (uint64_t)used * seconds;
	out->exit_share = all_time > 0 ? exit_time / all_time : 0;
out:
	free(x);
	free(mean);
	free(exit_part);
	free(demand);
	free(in_use);
	return rc;
}
