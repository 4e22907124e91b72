/* SPDX-License-Identifier: MIT */
/*
 * The fleet simulator behind pvm-sim and bench/sched: synthetic fleets and
 * guest mixes from a seed, a run of any policy over them through sched.h,
 * and an overload model that says how the placement would fare, costed by
 * workload profiles recorded from real guests. No I/O beyond reading a
 * profile: pvm-sim prints, bench_sched prints METRIC lines.
 */
#ifndef PVM_SCHED_SIM_H
#define PVM_SCHED_SIM_H

#include <stdio.h>

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

/*
 * Workload profiles (sim_profile.c): what the real guests of bench/pvaware
 * cost, each alone on one host CPU, recorded by that benchmark. The
 * overload model runs on them rather than on the scorer's formula.
 */
enum sched_sim_work {
	SCHED_SIM_WORK_CONSOLE = 0, /* units: bytes written to the console */
	SCHED_SIM_WORK_BLOCK,	    /* KiB written and read back */
	SCHED_SIM_WORK_CLOCK,	    /* clock reads */
	SCHED_SIM_WORK_COMPUTE,	    /* loop iterations; no hook, no exits to speak of */
	SCHED_SIM_WORKS
};

enum sched_sim_variant {
	SCHED_SIM_VAR_PV = 0,	/* through its hook */
	SCHED_SIM_VAR_EMULATED, /* on the emulated twin */
	SCHED_SIM_VARIANTS
};

/* One workload's figures over one window, each per second of it. */
struct sched_sim_figures {
	bool known;
	double units_per_s;	 /* work done, by the benchmark's clock */
	double cpu_per_s;	 /* host CPU time of its VMM and guest processes */
	double exits_per_s;	 /* as the VMM counted them, every reason */
	double hook_calls_per_s; /* as the VMM counted them */
};

#define SCHED_SIM_PROFILE_MAX 16384 /* bytes of a profile file */

struct sched_sim_profile {
	char platform[16];
	char recorded[160]; /* who recorded it, when, where */
	struct sched_sim_figures work[SCHED_SIM_WORKS][SCHED_SIM_VARIANTS];
};

const char *sched_sim_work_name(enum sched_sim_work w);
/* The hook a workload's pv variant uses; -1 for compute. */
int sched_sim_work_hook(enum sched_sim_work w);
/* Strict: an unknown key, a missing or repeated line, a figure that is no
 * finite number from 0 to 1e12 is -EINVAL/-ERANGE/-EEXIST with the line. */
int sched_sim_profile_parse(const char *text, struct sched_sim_profile *out, struct pvm_err *err);
int sched_sim_profile_load(const char *path, struct sched_sim_profile *out, struct pvm_err *err);
int sched_sim_profile_write(FILE *f, const struct sched_sim_profile *p);
/* The profile recorded on the project's reference machine, built in from
 * schedulers/profiles/recorded.profile. */
const struct sched_sim_profile *sched_sim_profile_recorded(void);
/* Host CPU seconds one exit costs: per unit of work, the emulated twin's
 * extra CPU over its extra exits (median of the workloads); 0 if none. */
double sched_sim_profile_cpu_per_exit(const struct sched_sim_profile *p);
double sched_sim_profile_cpu_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
				      enum sched_sim_variant v);
double sched_sim_profile_exits_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
					enum sched_sim_variant v);
double sched_sim_profile_calls_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
					enum sched_sim_variant v);

/* A guest as the scheduler sees it (spec, with the statistics its VMM would
 * count, noisy or missing) and as it really behaves (the truth the model
 * runs): the work it asks for, costed by the profile on each host. */
struct sched_sim_guest {
	struct sched_guest spec;
	enum sched_sim_class cls;
	double work[SCHED_SIM_WORKS]; /* units a second its jobs ask for, on average */
	double base_exits_per_s;      /* exits outside the profiled work (timers, agent) */
	struct sched_hook_stats truth;
};

struct sched_sim {
	uint32_t nhosts, nguests;
	struct sched_host *hosts;
	struct sched_sim_guest *guests;
	uint32_t nclass[SCHED_SIM_CLASSES];
	struct sched_sim_profile profile;
	double cpu_per_exit_s; /* from the profile */
};

/* Hosts and guests from a seed, costed by profile (NULL: the recorded one);
 * see sim_fleet.c for the mix. */
int sched_sim_generate(uint32_t nhosts, uint32_t nguests, uint64_t seed,
		       const struct sched_sim_profile *profile, struct sched_sim *out,
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

/* The true exits per second of guest g on host h, and the host CPU seconds a
 * second it wants there (never more than its vCPUs), its bursts averaged. */
double sched_sim_true_exits(const struct sched_sim *s, const struct sched_sim_guest *g,
			    const struct sched_host *h);
double sched_sim_true_cpu(const struct sched_sim *s, const struct sched_sim_guest *g,
			  const struct sched_host *h);

#endif /* PVM_SCHED_SIM_H */
