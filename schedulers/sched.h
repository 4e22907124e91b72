/* SPDX-License-Identifier: MIT */
/*
 * schedulers: where a guest runs. A fleet of hosts is kept in memory and
 * updated incrementally (add/update/remove host, bind/unbind guest); a
 * placement runs a pipeline of named plugins: filters (may the guest run
 * there?) -> scorers (how good is it?) -> weighted sum -> the best host.
 * explain() reports every host's filter verdicts and scores from the same
 * plugins; rebalance() proposes moves that lower a cluster score, as Ganeti's
 * hbal does.
 *
 * Pure computation: no I/O, no logging, no global state. Decisions are
 * deterministic: the same fleet (built by the same sequence of calls), spec
 * and policy give the same host; ties are broken by a stable hash of the guest
 * id and the host id, so equal hosts share the load.
 *
 * Thread-compatibility: a struct sched_fleet is not thread-safe. Every call on
 * one fleet, including place and explain (they use scratch space inside the
 * fleet), needs exclusive access: hold one mutex around the fleet. Distinct
 * fleets are independent. The free functions on specs and policies are
 * reentrant.
 *
 * Errors: functions return 0 or a negative errno and, when err is not NULL,
 * fill it (err->field names the offending field as a JSON pointer relative to
 * the struct, e.g. "/memory_mib"). SCHED_ENOHOST is the one "no host can take
 * the guest" answer; the CLI maps it to exit code 7.
 */
#ifndef PVM_SCHED_H
#define PVM_SCHED_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "hv/pv_abi.h"

#define SCHED_ID_MAX	   64 /* ids, label keys and values, anti-affinity groups (with NUL) */
#define SCHED_LABELS_MAX   16 /* labels per host */
#define SCHED_SELECTOR_MAX 16 /* terms per guest label selector */
#define SCHED_PLUGINS_MAX  16 /* filters or scorers in one policy */
#define SCHED_REASON_MAX   96 /* one filter verdict's reason in explain */

/* "No host can take the guest": returned by place, never by anything else. */
#define SCHED_ENOHOST (-ENOSPC)

/* ---- pv hooks: the hook ABI's bits (hv/pv_abi.h: PV_HOOK_*, pv_hook_name) */

/* Hook bitmaps here are 32 bits of the ABI's feature bits. */
#define SCHED_HOOK_BIT(h) ((uint32_t)PV_F(h))
#define SCHED_HOOKS_ALL	  ((uint32_t)PV_F_ALL_V1)

/* Parses a comma-separated list of hook names ("console,block"; "" is the
 * empty set) into a bitmap. Unknown or repeated names are -EINVAL. */
int sched_hook_parse(const char *list, uint32_t *bits, struct pvm_err *err);
/* Writes bits as "console,block" into buf (always NUL-terminated); returns
 * the length it needed, as snprintf. Unknown bits are written as "bitN". */
int sched_hook_format(uint32_t bits, char *buf, size_t len);

/* ---- hosts ------------------------------------------------------------- */

enum sched_host_state {
	SCHED_HOST_READY = 0,
	SCHED_HOST_UNREACHABLE, /* missed heartbeats */
	SCHED_HOST_DOWN,	/* known to be off */
};

const char *sched_host_state_name(enum sched_host_state s);
int sched_host_state_parse(const char *s, enum sched_host_state *out);

enum sched_kind {
	SCHED_KIND_MICROGUEST = 0,
	SCHED_KIND_LINUX,
	SCHED_KIND_LIBVIRT,
	SCHED_KIND_COUNT
};

#define SCHED_KIND_BIT(k) (1u << (k))
#define SCHED_KINDS_ALL	  ((1u << SCHED_KIND_COUNT) - 1)

const char *sched_kind_name(enum sched_kind k);
int sched_kind_parse(const char *s, enum sched_kind *out);

struct sched_label {
	char key[SCHED_ID_MAX];
	char value[SCHED_ID_MAX];
};

/* Parses "zone=a,disk=ssd" (keys unique, [A-Za-z0-9_.-/]+, values may be
 * empty) into labels[0..*n). */
int sched_labels_parse(const char *s, struct sched_label *labels, unsigned int max, unsigned int *n,
		       struct pvm_err *err);

struct sched_host {
	char id[SCHED_ID_MAX];
	uint32_t cpus;	     /* host CPUs available to guests */
	uint64_t memory_mib; /* memory available to guests */
	uint64_t disk_gib;   /* disk available to guests */
	enum sched_host_state state;
	bool cordoned; /* no new guests */
	bool draining; /* no new guests, and the rebalancer moves its guests off */
	struct sched_label labels[SCHED_LABELS_MAX];
	unsigned int nlabels;
	uint32_t hooks;	       /* SCHED_HOOK_BIT()s offered */
	uint32_t abi_versions; /* bit v set: hook ABI version v offered (1..31) */
	bool emulated_devices; /* offers the emulated twins (UART, port-I/O block, PIT) */
	uint32_t kvm_features; /* KVM_FEATURE_* bits (CPUID 0x40000001 EAX) supported */
	uint32_t kinds;	       /* SCHED_KIND_BIT()s it can run; 0: all kinds */
	uint32_t platforms;    /* PVM_PLATFORM_BIT()s (common.h) it offers; 0: none reported */
	bool linux_tcg;	       /* runs Linux guests under TCG (no VMX/SVM): many times slower */
	uint32_t max_guests;   /* 0: no limit */
	/* ns one exit costs here, as the host measured (its default platform);
	 * 0: not measured, the policy's exits_per_core stands in. */
	double exit_cost_ns;
};

/* Defaults: ready, not cordoned, no hooks, no labels, all kinds, no limit. */
void sched_host_init(struct sched_host *h);
int sched_host_validate(const struct sched_host *h, struct pvm_err *err);

/* ---- guests ------------------------------------------------------------ */

enum sched_selector_op {
	SCHED_SEL_EQ = 0, /* key=value */
	SCHED_SEL_NE,	  /* key!=value (also true when the key is absent) */
	SCHED_SEL_EXISTS, /* key */
	SCHED_SEL_ABSENT, /* !key */
};

struct sched_selector_term {
	enum sched_selector_op op;
	char key[SCHED_ID_MAX];
	char value[SCHED_ID_MAX];
};

/* Parses "zone=a,disk!=hdd,gpu,!spot"; every term must hold. */
int sched_selector_parse(const char *s, struct sched_selector_term *terms, unsigned int max,
			 unsigned int *n, struct pvm_err *err);

/*
 * A guest's reported hook statistics, when known: per hook, calls per second
 * and the exits per second the hook saves against its emulated twin; and the
 * guest's vCPU exits per second with its hooks in place. Unknown statistics
 * (known == false) count as no calls and no exits.
 */
struct sched_hook_stats {
	bool known;
	double calls_per_s[PV_HOOK_COUNT];
	double exits_avoided_per_s[PV_HOOK_COUNT];
	double exits_per_s;
};

struct sched_guest {
	char id[SCHED_ID_MAX];
	uint32_t vcpus;
	uint64_t memory_mib;
	uint64_t disk_gib;
	enum sched_kind kind;
	uint32_t hooks_required;	/* must all be offered */
	uint32_t hooks_preferred;	/* the more offered (by call rate), the better */
	uint32_t abi_version;		/* hook ABI version the guest speaks; 0 when it uses none */
	bool needs_emulated;		/* needs the emulated twins */
	uint32_t kvm_features_required; /* KVM_FEATURE_* bits the guest kernel needs */
	uint32_t platforms; /* PVM_PLATFORM_BIT()s it may run on (the spec's platform); 0: any */
	char anti_affinity[SCHED_ID_MAX]; /* group; "" none. Two guests of a group never share a
					     host */
	struct sched_hook_stats stats;
	unsigned int nselector;
	struct sched_selector_term selector[SCHED_SELECTOR_MAX];
};

/* Defaults: microguest, 1 vCPU, 0 memory (so validate insists on a size),
 * no hooks, no stats. */
void sched_guest_init(struct sched_guest *g);
int sched_guest_validate(const struct sched_guest *g, struct pvm_err *err);

/*
 * The exits per second g would cause on a host offering `host_hooks`: its
 * reported exits plus, for every hook it wants (required or preferred) that
 * the host lacks, the exits that hook saves (at least one per call). This is
 * the exit-pressure model the scorer and the rebalancer share.
 */
double sched_guest_exits_on(const struct sched_guest *g, uint32_t host_hooks);
/* The share in [0, 1] of g's preferred hooks a host offering `host_hooks`
 * serves, weighted by their reported call rates (each hook counts 1 when
 * there are none); 1 when g prefers no hook. The pv_affinity score in a
 * fleet whose hosts all offer the same hooks (elsewhere the scorer also
 * spares the scarce ones: docs/scheduling.md). */
double sched_guest_pv_affinity(const struct sched_guest *g, uint32_t host_hooks);

/* ---- policy ------------------------------------------------------------ */

enum sched_filter_id {
	SCHED_FILTER_CAPACITY = 0, /* vCPUs (with overcommit), memory, disk */
	SCHED_FILTER_STATE,	   /* ready, not cordoned, not draining */
	SCHED_FILTER_PV,	   /* kind, platform, hooks + ABI, emulated devices, KVM pv */
	SCHED_FILTER_LABELS,	   /* the guest's label selector */
	SCHED_FILTER_ANTI_AFFINITY,
	SCHED_FILTER_MAX_GUESTS,
	SCHED_FILTER_COUNT
};

enum sched_scorer_id {
	SCHED_SCORER_BINPACK = 0,   /* most allocated */
	SCHED_SCORER_SPREAD,	    /* least allocated */
	SCHED_SCORER_PV_AFFINITY,   /* share of preferred hooks offered, by call rate */
	SCHED_SCORER_EXIT_PRESSURE, /* predicted exits/s against the host's cores */
	SCHED_SCORER_COUNT
};

/* "capacity", "state", "pv", "labels", "anti_affinity", "max_guests";
 * "binpack", "spread", "pv_affinity", "exit_pressure". NULL out of range. */
const char *sched_filter_name(enum sched_filter_id id);
const char *sched_scorer_name(enum sched_scorer_id id);

struct sched_weighted {
	enum sched_scorer_id scorer;
	double weight; /* > 0 */
};

/* How many hosts place() examines: 0 = as kube-scheduler's
 * percentageOfNodesToScore (stop after max(100, n * max(5, 50 - n/125) %)
 * feasible hosts, walking from a per-guest start), SCHED_LIMIT_ALL = the
 * best of every feasible host, found through the fleet's index (see
 * schedulers/README.md), N = stop after N feasible hosts. */
#define SCHED_LIMIT_AUTO 0u
#define SCHED_LIMIT_ALL	 UINT32_MAX

struct sched_policy {
	unsigned int nfilters;
	enum sched_filter_id filters[SCHED_PLUGINS_MAX]; /* in order; each at most once */
	unsigned int nscorers;
	struct sched_weighted scorers[SCHED_PLUGINS_MAX]; /* each at most once */
	double cpu_overcommit;				  /* vCPUs per host CPU (>= 1) */
	double exits_per_core; /* exits/s one host core absorbs before it is overloaded */
	uint32_t limit;	       /* SCHED_LIMIT_AUTO, SCHED_LIMIT_ALL or N */
	/* Rebalancer cluster-score weights (see sched_fleet_cluster_score). */
	double w_imbalance;
	double w_overload;
	double w_mismatch;
};

/*
 * The default: filters=capacity,state,pv,labels,anti_affinity,max_guests;
 * scorers=binpack:1,pv_affinity:2,exit_pressure:3; cpu_overcommit=4;
 * exits_per_core=20000; limit=all; rebalance=imbalance:1,overload:4,mismatch:1.
 */
void sched_policy_default(struct sched_policy *p);

/*
 * Applies a policy string over *p (keys not named keep their value), so a
 * per-request override is parsed over the fleet's policy:
 *   filters=capacity,state,pv;scorers=binpack:1,exit_pressure:3;
 *   cpu_overcommit=2;exits_per_core=20000;limit=auto|all|N;
 *   rebalance=imbalance:1,overload:4,mismatch:1
 * "filters=" with an empty list is allowed (only for experiments: then
 * nothing is checked); at least one scorer is required. On error *p is
 * unchanged.
 */
int sched_policy_parse(const char *s, struct sched_policy *p, struct pvm_err *err);
/* True when p packs rather than spreads: its binpack weight is larger than
 * its spread weight. The rebalancer's cluster score follows it. */
bool sched_policy_packs(const struct sched_policy *p);
/* Writes the canonical string of p (parseable by sched_policy_parse). */
int sched_policy_format(const struct sched_policy *p, char *buf, size_t len);
int sched_policy_validate(const struct sched_policy *p, struct pvm_err *err);

/* ---- fleet ------------------------------------------------------------- */

struct sched_fleet;

/* policy NULL: sched_policy_default(). The policy is copied. */
int sched_fleet_new(const struct sched_policy *policy, struct sched_fleet **out,
		    struct pvm_err *err);
void sched_fleet_free(struct sched_fleet *f);
int sched_fleet_set_policy(struct sched_fleet *f, const struct sched_policy *policy,
			   struct pvm_err *err);
const struct sched_policy *sched_fleet_policy(const struct sched_fleet *f);

/* Adds a host (-EEXIST when the id is known) or replaces its description
 * (capacity, state, labels, capabilities) keeping its bound guests; a host
 * that shrinks below its use is kept over-full (filters refuse new guests). */
int sched_fleet_host_add(struct sched_fleet *f, const struct sched_host *h, struct pvm_err *err);
int sched_fleet_host_update(struct sched_fleet *f, const struct sched_host *h, struct pvm_err *err);
/* -EBUSY while guests are bound to it (unbind them or use
 * sched_fleet_host_evict first); -ENOENT when unknown. */
int sched_fleet_host_remove(struct sched_fleet *f, const char *host_id, struct pvm_err *err);
/* Unbinds every guest of a host; returns how many (>= 0) or -ENOENT. */
int sched_fleet_host_evict(struct sched_fleet *f, const char *host_id);
/* The host's description, or NULL. Valid until the next change to the fleet. */
const struct sched_host *sched_fleet_host(const struct sched_fleet *f, const char *host_id);
unsigned int sched_fleet_nhosts(const struct sched_fleet *f);
/* Hosts in fleet order, 0 <= i < nhosts; order changes when hosts are removed. */
const struct sched_host *sched_fleet_host_at(const struct sched_fleet *f, unsigned int i);

/* What a host carries (incremental sums over its bound guests). */
struct sched_usage {
	uint64_t vcpus;
	uint64_t memory_mib;
	uint64_t disk_gib;
	uint32_t guests;
	double exits_per_s; /* predicted, sched_guest_exits_on() summed */
	double exit_load;   /* exits_per_s / (cpus * exits_per_core) */
};
int sched_fleet_host_usage(const struct sched_fleet *f, const char *host_id,
			   struct sched_usage *out);

/*
 * Records that guest g runs on host_id, whether or not the filters would
 * allow it (a controller restarting from its store binds what is). -EEXIST
 * when g->id is already bound, -ENOENT for an unknown host. The spec is
 * copied.
 */
int sched_fleet_bind(struct sched_fleet *f, const struct sched_guest *g, const char *host_id,
		     struct pvm_err *err);
/* -ENOENT when the guest is not bound. */
int sched_fleet_unbind(struct sched_fleet *f, const char *guest_id);
/* Replaces a bound guest's spec, typically its newly reported hook
 * statistics, keeping its host; the host's sums follow. */
int sched_fleet_guest_update(struct sched_fleet *f, const struct sched_guest *g,
			     struct pvm_err *err);
/* Replaces only a bound guest's statistics (the host's sums follow);
 * -ENOENT when it is not bound. */
int sched_fleet_guest_stats(struct sched_fleet *f, const char *guest_id,
			    const struct sched_hook_stats *stats);
/* The host a guest is bound to, or NULL. Valid until the next change. */
const char *sched_fleet_guest_host(const struct sched_fleet *f, const char *guest_id);
unsigned int sched_fleet_nguests(const struct sched_fleet *f);

/* ---- placement --------------------------------------------------------- */

struct sched_placement {
	char host_id[SCHED_ID_MAX]; /* "" when no host fits */
	double score;		    /* weighted sum of the chosen host */
	unsigned int hosts_total;
	unsigned int hosts_examined; /* < total when a limit stopped the walk or a bound pruned */
	unsigned int hosts_feasible;
	/* Exact placements: hosts not examined because a score bound showed
	 * they could not beat the chosen one (examined + pruned = total). */
	unsigned int hosts_pruned;
	/* Hosts excluded by each filter of the policy, indexed as
	 * policy.filters[]: the first that refused counts, the per-class
	 * filters (state, pv) before the per-host ones. */
	unsigned int rejected[SCHED_PLUGINS_MAX];
};

/*
 * Chooses a host for g (which must not be bound yet) without binding it.
 * policy NULL: the fleet's policy. Returns 0 with out->host_id set, or
 * SCHED_ENOHOST with err->msg as Nomad words it: "no host can take guest
 * \"web-1\": 12 hosts; 9 excluded by filter capacity, 3 by filter pv".
 */
int sched_fleet_place(struct sched_fleet *f, const struct sched_guest *g,
		      const struct sched_policy *policy, struct sched_placement *out,
		      struct pvm_err *err);
/* place, then bind to the chosen host. */
int sched_fleet_place_bind(struct sched_fleet *f, const struct sched_guest *g,
			   const struct sched_policy *policy, struct sched_placement *out,
			   struct pvm_err *err);

/* ---- explain ----------------------------------------------------------- */

struct sched_verdict {
	bool pass;
	char reason[SCHED_REASON_MAX]; /* why it failed, or what it checked */
};

struct sched_host_explain {
	char host_id[SCHED_ID_MAX];
	bool feasible;
	struct sched_verdict filters[SCHED_PLUGINS_MAX]; /* as policy.filters[] */
	double raw[SCHED_PLUGINS_MAX];			 /* as policy.scorers[], in [0, 1] */
	double weighted[SCHED_PLUGINS_MAX];
	double total; /* sum of weighted; 0 when not feasible */
};

struct sched_explain {
	struct sched_policy policy; /* the one used */
	char guest_id[SCHED_ID_MAX];
	char chosen[SCHED_ID_MAX]; /* "" when none fits */
	unsigned int nhosts;
	struct sched_host_explain *hosts; /* every host, fleet order */
	struct sched_placement placement; /* as place() over every host would answer */
};

/*
 * Runs every filter and every scorer on every host (no limit) for g; the
 * guest may be bound already (then it is explained as if unbound). Allocates
 * *out, freed with sched_explain_free. Returns 0 even when no host fits.
 */
int sched_fleet_explain(struct sched_fleet *f, const struct sched_guest *g,
			const struct sched_policy *policy, struct sched_explain **out,
			struct pvm_err *err);
void sched_explain_free(struct sched_explain *e);
/*
 * As JSON for the API: {"guest":..., "policy": "...", "chosen": "h1"|null,
 * "hosts_total":N, "hosts_feasible":N, "rejected": {"capacity": N, ...},
 * "hosts":[{"host":..., "feasible":bool, "filters":[{"name":..., "pass":bool,
 * "reason":...}], "scores":[{"name":..., "raw":x, "weight":w, "weighted":y}],
 * "total":t}]}. *out owns a reference.
 */
int sched_explain_json(const struct sched_explain *e, json_object **out);

/* ---- rebalancer -------------------------------------------------------- */

/*
 * Cluster score (lower is better), under the policy's rebalance weights:
 *   w_imbalance * (stddev of memory use + stddev of vCPU use over ready hosts)
 *                 when the policy spreads; when it packs (sched_policy_packs),
 *                 minus the mean over ready hosts of (memory use^2 + vCPU use^2)/2
 * + w_overload  * mean over hosts of max(0, exit_load - 1)
 * + w_mismatch  * mean over guests of the share of preferred hook calls the
 *                 host does not offer (1 per hook unit when no stats)
 * + 10 * the share of guests on hosts that are draining or not ready
 *   (so evacuating them comes first).
 * 0 for an empty fleet.
 */
double sched_fleet_cluster_score(const struct sched_fleet *f, const struct sched_policy *policy);

struct sched_move {
	char guest_id[SCHED_ID_MAX];
	char from[SCHED_ID_MAX];
	char to[SCHED_ID_MAX];
	double delta; /* change of the cluster score this move makes */
	/* 0: a single move, which gains on its own (delta < 0). n > 0: one of
	 * the moves of consolidation plan n, which together empty a host:
	 * delta is this step's own change (it may be > 0) and plan_delta the
	 * whole plan's (< 0). */
	uint32_t plan;
	double plan_delta;
};

/*
 * Greedy hill climbing as hbal: repeatedly the single move (a guest to
 * another host that passes every filter of the policy) that most lowers the
 * cluster score, up to max_moves and while it lowers the score. moves[] has
 * room for max_moves; *nmoves is set. apply: leave the moves done in the
 * fleet; otherwise the fleet is left as it was. before/after may be NULL.
 * Under a packing policy, when single moves are done, a consolidation plan
 * (consolidate.c) may follow: it repacks the guests onto fewer hosts and is
 * kept only when it uses fewer hosts, lowers the score and fits within
 * max_moves.
 * Cost: each move prices every bound guest on every host in O(1) and runs
 * the filters only for moves that would be the best so far; about 0.4 s per
 * move at 1,000 hosts and 20,000 guests, so the API should bound max_moves.
 */
int sched_fleet_rebalance(struct sched_fleet *f, const struct sched_policy *policy,
			  unsigned int max_moves, bool apply, struct sched_move *moves,
			  unsigned int *nmoves, double *before, double *after, struct pvm_err *err);

#endif /* PVM_SCHED_H */
