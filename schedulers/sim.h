/* SPDX-License-Identifier: MIT */
/*
 * The fleet simulator behind pvm-sim and bench/sched: synthetic fleets and
 * guest mixes from a seed, a run of any policy over them through sched.h,
 * and an overload model that says how the placement would fare. No I/O:
 * pvm-sim prints, bench_sched prints METRIC lines.
 */
#ifndef PVM_SCHED_SIM_H
#define PVM_SCHED_SIM_H

#include "schedulers/sched.h"

/* A small, fast, seedable generator (splitmix64): same seed, same fleet. */
struct sched_sim_rng {
	uint64_t s;
};

uint64_t sched_sim_next(struct sched_sim_rng *r);
double sched_sim_uniform(struct sched_sim_rng *r); /* [0, 1) */
double sched_sim_normal(struct sched_sim_rng *r);  /* mean 0, sd 1 */

enum sched_sim_class {
	SCHED_SIM_PV = 0,   /* pv microguest: hooks required and preferred */
	SCHED_SIM_EMULATED, /* microguest on the emulated twins: exit-heavy */
	SCHED_SIM_LINUX,    /* stock Linux kernel: KVM pv features */
	SCHED_SIM_CLASSES
};

/* A guest as the scheduler sees it (spec, with reported statistics that are
 * noisy or missing) and as it really behaves (the truth the model runs). */
struct sched_sim_guest {
	struct sched_guest spec;
	enum sched_sim_class cls;
	double busy; /* mean share of each vCPU spent computing */
	struct sched_hook_stats truth;
};

struct sched_sim {
	uint32_t nhosts, nguests;
	struct sched_host *hosts;
	struct sched_sim_guest *guests;
	uint32_t nclass[SCHED_SIM_CLASSES];
};

/* Hosts and guests from a seed; see sim_fleet.c for the mix. */
int sched_sim_generate(uint32_t nhosts, uint32_t nguests, uint64_t seed, struct sched_sim *out,
		       struct pvm_err *err);
/*
 * A packing instance with a known optimum: `full` identical hosts, each
 * filled exactly (memory) by guests of common sizes, the guests shuffled;
 * the fleet has `spare` more empty hosts. The optimum uses `full` hosts.
 */
int sched_sim_packing(uint32_t full, uint32_t spare, uint64_t seed, struct sched_sim *out,
		      struct pvm_err *err);
/*
 * The same in two dimensions: `full` hosts of SCHED_SIM_VEC_CPUS CPUs and
 * SCHED_SIM_VEC_MEM_MIB each cut exactly into 3 to 12 guests in both vCPUs
 * and memory (in 512 MiB steps, the parts paired at random), shuffled, and
 * `spare` more hosts. With cpu_overcommit=1 the optimum uses `full` hosts.
 */
#define SCHED_SIM_VEC_CPUS     32
#define SCHED_SIM_VEC_MEM_MIB  (128 * 1024)
#define SCHED_SIM_VEC_STEP_MIB 512
#define SCHED_SIM_CUT_MIN      3
#define SCHED_SIM_CUT_MAX      12
int sched_sim_packing_vec(uint32_t full, uint32_t spare, uint64_t seed, struct sched_sim *out,
			  struct pvm_err *err);
void sched_sim_free(struct sched_sim *s);

/* Ground truth, written apart from the pv filter: would the guest start and
 * negotiate on this host? */
bool sched_sim_compatible(const struct sched_host *h, const struct sched_guest *g);

struct sched_sim_result {
	uint32_t placed, failed, hosts_used, incompatible;
	double memory_use;  /* mean memory use of hosts in use */
	double hook_served; /* share of preferred hook calls (truth) the hosts offer */
	double decisions_per_s;
	double p50_us, p99_us, max_us;
	int32_t *placement;	   /* host index per guest, -1 when not placed; owned */
	struct sched_fleet *fleet; /* the fleet after the run; owned */
};

/* Places every guest in order with place_bind under policy p, timing each
 * decision in the thread's CPU time (so other load on the machine does not
 * count). Frees with sched_sim_result_free. */
int sched_sim_run(const struct sched_sim *s, const struct sched_policy *p,
		  struct sched_sim_result *r, struct pvm_err *err);
void sched_sim_result_free(struct sched_sim_result *r);

/*
 * The overload model (sim_model.c): `seconds` simulated seconds of bursty
 * guest activity on a placement; a host-second is overloaded when its
 * guests' vCPU threads want more CPU time than it has.
 */
struct sched_sim_load {
	uint64_t host_seconds;	     /* hosts in use x seconds */
	uint64_t overloaded_seconds; /* of those, overloaded */
	double exit_share;	     /* share of demanded CPU time spent on exits */
};

int sched_sim_overload(const struct sched_sim *s, const int32_t *placement, uint32_t seconds,
		       uint64_t seed, struct sched_sim_load *out);

/* The true exits per second of guest g on host h (all its bursts averaged). */
double sched_sim_true_exits(const struct sched_sim_guest *g, const struct sched_host *h);

#endif /* PVM_SCHED_SIM_H */
