/* SPDX-License-Identifier: MIT */
/*
 * schedulers internals: the fleet's layout and the plugin interface. Not for
 * other modules (they use sched.h).
 */
#ifndef PVM_SCHED_INTERNAL_H
#define PVM_SCHED_INTERNAL_H

#include <math.h>

#include "schedulers/sched.h"

/* ---- string -> index map (open addressing, ids are short) ------------- */

struct sched_map {
	uint32_t *slots; /* index + 1; 0 empty, UINT32_MAX deleted */
	uint32_t cap;	 /* power of two */
	uint32_t used;	 /* live + deleted */
	uint32_t live;
	/* Key of an index: the map stores indices only. */
	const char *(*key_of)(const void *owner, uint32_t idx);
	const void *owner;
};

void sched_map_init(struct sched_map *m, const char *(*key_of)(const void *, uint32_t),
		    const void *owner);
void sched_map_free(struct sched_map *m);
/* -1 when absent. */
int64_t sched_map_get(const struct sched_map *m, const char *key);
int sched_map_put(struct sched_map *m, const char *key, uint32_t idx);
/* Changes the index stored for key (the owner moved it). */
void sched_map_set(struct sched_map *m, const char *key, uint32_t idx);
void sched_map_del(struct sched_map *m, const char *key);

/* A stable hash of one id, and the tie-break key of a (guest, host) pair. */
uint64_t sched_id_hash(const char *id);
uint64_t sched_pair_hash(uint64_t guest_hash, uint64_t host_hash);

/* ---- fleet layout ------------------------------------------------------ */

/* Exits/s are kept in thousandths as integers, so the sums updated on every
 * bind and unbind are exact and an undone move restores them bit for bit. */
#define SCHED_MILLI 1000.0

/* What filters and scorers read for every host, packed for the scan. */
struct sched_host_hot {
	uint64_t memory_mib;
	uint64_t disk_gib;
	uint64_t used_memory_mib;
	uint64_t used_disk_gib;
	uint64_t used_vcpus;
	int64_t exits_milli; /* predicted exits/s over its guests, x1000 */
	uint32_t cpus;
	uint32_t nguests;
	uint32_t max_guests;
	uint32_t hooks;
	uint32_t abi_versions;
	uint32_t kvm_features;
	uint32_t kinds;
	uint32_t platforms;
	uint32_t aa_stamp; /* == ctx stamp: a guest of the placed guest's group is here */
	uint64_t id_hash;  /* sched_id_hash(id), for tie-breaks */
	uint8_t state;
	bool cordoned;
	bool draining;
	bool emulated_devices;
	bool linux_tcg;
	double exit_cost_ns; /* measured; 0: the policy's exits_per_core */
	/* Its place in the index (index.c): class, free-memory bin, slot, and
	 * the exits the bin's minimum was last told of. */
	uint32_t cls, bin, slot;
	int64_t bin_exits_milli;
	uint64_t bin_used_vcpus;
};

/* The exits a second `cpus` cores absorb at a measured cost of one exit
 * (0: not measured, the policy's exits_per_core stands in). */
static inline double sched_exit_capacity_of(uint32_t cpus, double exit_cost_ns,
					    const struct sched_policy *p)
{
	return (double)cpus * (exit_cost_ns > 0 ? 1e9 / exit_cost_ns : p->exits_per_core);
}

/* The exits a second the host's cores absorb: from its own measured cost of
 * an exit where it measured one, else from the policy's exits_per_core. */
static inline double sched_exit_capacity(const struct sched_host_hot *h,
					 const struct sched_policy *p)
{
	return sched_exit_capacity_of(h->cpus, h->exit_cost_ns, p);
}

struct sched_host_cold {
	struct sched_host h;
	int32_t first_guest; /* guest slot, -1 */
};

/* A bound guest: its spec packed without the selector array (its terms,
 * usually none, live in their own allocation), plus its links. */
struct sched_guest_rec {
	char id[SCHED_ID_MAX];
	char anti_affinity[SCHED_ID_MAX];
	uint64_t memory_mib;
	uint64_t disk_gib;
	uint32_t vcpus;
	uint32_t kind;
	uint32_t hooks_required;
	uint32_t hooks_preferred;
	uint32_t abi_version;
	uint32_t kvm_features_required;
	uint32_t platforms;
	uint32_t nselector;
	bool needs_emulated;
	struct sched_hook_stats stats;
	struct sched_selector_term *sel;
	int32_t host;	      /* host index; -1 when the slot is free */
	int32_t prev, next;   /* guests of the same host */
	int32_t group;	      /* anti-affinity group index, -1 */
	int32_t gprev, gnext; /* guests of the same group */
	int64_t exits_milli;  /* exits/s on its host, x1000 */
};

struct sched_group {
	char name[SCHED_ID_MAX];
	int32_t first_guest;
	uint32_t nguests;
};

struct sched_fleet {
	struct sched_policy policy;

	struct sched_host_hot *hot;
	struct sched_host_cold *cold;
	uint32_t nhosts, hosts_cap;
	struct sched_map host_map;

	/* The guest record array is not compacted: free slots are chained
	 * through .next and reused. */
	struct sched_guest_rec *guests;
	uint32_t guests_cap, nguests, guests_used;
	int32_t free_guest;
	struct sched_map guest_map;

	struct sched_group *groups;
	uint32_t ngroups, groups_cap;
	int32_t free_group;
	struct sched_map group_map;

	uint32_t stamp;
	/* Over every host: CPUs and memory, and what the guests use of them
	 * (binpack weighs the two by how scarce each is). */
	uint64_t total_cpus, total_memory_mib, total_used_vcpus, total_used_memory_mib;
	/* Hosts that take guests, and those of them offering each hook
	 * (pv_affinity spares the hooks few offer). */
	uint32_t hook_offerers, hook_hosts[PV_HOOK_COUNT];

	/* The index (index.c): hosts by class, then by free memory. */
	struct sched_class *classes;
	uint32_t nclasses, classes_cap;
	int32_t free_class;
	struct sched_map class_map;
	struct sched_cand *cands; /* scratch for one placement */
	uint32_t ncands, cands_cap;
	bool index_stale; /* out of memory while indexing: exact walks scan */
};

/* ---- the index (index.c) ---------------------------------------------- */

/*
 * Hosts are grouped into classes by everything the per-class plugins read
 * (state, cordon, drain, kinds, platforms, hooks, ABI versions, emulated
 * devices, KVM features) and by shape (CPUs, memory), and within a class
 * into SCHED_BINS + 1 bins by free memory: bin b holds the hosts whose free
 * memory f has floor(f * SCHED_BINS / memory) == b. An exact placement then
 * runs the per-class filters and scorers once per class, skips the bins
 * whose hosts cannot hold the guest's memory, and skips the bins whose score
 * bound cannot beat the best host found so far.
 */
#define SCHED_BINS	    64
#define SCHED_CLASS_KEY_MAX 112

struct sched_bin {
	uint32_t *hosts;
	uint32_t n, cap;
	/* For the exit-pressure bound: the least predicted exits of a host in
	 * the bin, the least measured exit cost (0: none measured) and how many
	 * hosts measured none; recomputed when `dirty` (a minimum left). */
	int64_t min_exits_milli;
	double min_exit_cost_ns;
	uint32_t unmeasured;
	uint64_t max_used_vcpus; /* for the binpack bound, likewise */
	bool dirty;
};

struct sched_class {
	char key[SCHED_CLASS_KEY_MAX]; /* the signature as text, for the map */
	uint32_t nhosts;
	int32_t next_free; /* free list of unused classes */
	uint64_t nonempty[2];
	struct sched_bin bins[SCHED_BINS + 1];
};

/* A bin an exact placement may visit: its class's per-class score and the
 * bound of its hosts' total. */
struct sched_cand {
	double bound, base;
	uint32_t cls, bin;
};

/* The free-memory range a bin of a class stands for, and the class's shape:
 * what a scorer's bound may rely on. */
struct sched_span {
	uint32_t cpus;
	uint64_t memory_mib;
	uint64_t free_lo, free_hi; /* every host of the bin has lo <= free <= hi */
	uint32_t usable_hooks;	   /* the hooks the guest can use on the class */
	uint64_t max_used_vcpus;   /* no host of the span has more vCPUs in use */
	int64_t min_exits_milli;   /* no host of the span predicts fewer exits */
	double max_exit_capacity;  /* no host of the span absorbs more exits/s */
};

struct sched_ctx;
struct sched_best;

void sched_index_init(struct sched_fleet *f);
/* Puts host hi (its hot fields set) into the index; -ENOMEM. */
int sched_index_add(struct sched_fleet *f, uint32_t hi);
void sched_index_remove(struct sched_fleet *f, uint32_t hi);
/* Host hi's use changed: moves it to its new bin. */
void sched_index_refresh(struct sched_fleet *f, uint32_t hi);
/* The host that was at the last index is now at `to`. */
void sched_index_renumber(struct sched_fleet *f, uint32_t to);
void sched_index_free(struct sched_fleet *f);
/* The exact best host for c into best, counting into out; -ESTALE when the
 * index cannot be trusted (the caller walks every host instead). */
int sched_index_place(const struct sched_ctx *c, struct sched_best *best,
		      struct sched_placement *out);

/* ---- plugins ----------------------------------------------------------- */

/* Everything a plugin needs about one placement, computed once per guest. */
struct sched_ctx {
	struct sched_fleet *f;
	const struct sched_policy *p;
	const struct sched_guest *g;
	const struct sched_selector_term *sel; /* g's selector terms */
	unsigned int nsel;
	int32_t group;	  /* g's anti-affinity group in the fleet, -1 */
	uint64_t id_hash; /* sched_id_hash(g->id) */
	/* The policy's plugins, looked up once. */
	const struct sched_filter_plugin *filter[SCHED_PLUGINS_MAX];
	const struct sched_scorer_plugin *scorer[SCHED_PLUGINS_MAX];
	/* Indexed by a host's offered hook set (SCHED_HOOKS_ALL + 1 entries). */
	int64_t exits_milli[SCHED_HOOKS_ALL + 1];
	/* vCPUs and memory weighted by how scarce each is (sched_scarcity). */
	double weight_cpu, weight_mem;
	double affinity[SCHED_HOOKS_ALL + 1];
	double kept[SCHED_HOOKS_ALL + 1]; /* by the hooks a host offers: sched_hooks_kept */
};

/* The pv_affinity of the placement's guest on h (the scorer's and the
 * rebalancer's). */
double sched_ctx_affinity(const struct sched_ctx *c, const struct sched_host_hot *h);

void sched_ctx_init(struct sched_ctx *c, struct sched_fleet *f, const struct sched_policy *p,
		    const struct sched_guest *g, const struct sched_selector_term *sel,
		    unsigned int nsel);

struct sched_filter_plugin {
	const char *name;
	/* Reads only what makes a host's class (see the index): run once per
	 * class, and before every per-host filter. */
	bool per_class;
	/* Optional: once per placement before the scan. */
	void (*prepare)(struct sched_ctx *c);
	/* true when host hi may take the guest. reason is NULL on the fast
	 * path; explain passes a buffer for a one-line why. */
	bool (*check)(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len);
};

struct sched_scorer_plugin {
	const char *name;
	bool per_class; /* as for filters */
	/* In [0, 1], higher is better; only called on feasible hosts. */
	double (*score)(const struct sched_ctx *c, uint32_t hi);
	/* Optional: a bound >= score on every feasible host of a span; without
	 * one the bound is 1. */
	double (*bound)(const struct sched_ctx *c, const struct sched_span *s);
};

extern const struct sched_filter_plugin sched_filter_capacity;
extern const struct sched_filter_plugin sched_filter_state;
extern const struct sched_filter_plugin sched_filter_pv;
extern const struct sched_filter_plugin sched_filter_labels;
extern const struct sched_filter_plugin sched_filter_anti_affinity;
extern const struct sched_filter_plugin sched_filter_max_guests;
extern const struct sched_scorer_plugin sched_scorer_binpack;
extern const struct sched_scorer_plugin sched_scorer_spread;
extern const struct sched_scorer_plugin sched_scorer_pv_affinity;
extern const struct sched_scorer_plugin sched_scorer_exit_pressure;

const struct sched_filter_plugin *sched_filter_plugin(enum sched_filter_id id);
const struct sched_scorer_plugin *sched_scorer_plugin(enum sched_scorer_id id);

/* The hooks a guest speaking ABI version abi can use on a host. */
static inline uint32_t sched_usable_hooks(uint32_t hooks, uint32_t abi_versions, uint32_t abi)
{
	return abi && abi < 32 && (abi_versions >> abi) & 1u ? hooks : 0;
}

/* The weights of vCPUs and memory in binpack's shape alignment (place.c). */
void sched_scarcity(const struct sched_fleet *f, const struct sched_policy *p, double *cpu,
		    double *mem);

/* Shared by binpack and spread: mean of vCPU and memory use after placing. */
double sched_alloc_after(const struct sched_ctx *c, uint32_t hi);

/* Labels of a host match every term. */
bool sched_selector_match(const struct sched_selector_term *t, unsigned int n,
			  const struct sched_label *labels, unsigned int nlabels, char *reason,
			  size_t len);

/* The models behind sched_guest_exits_on (in thousandths) and
 * sched_guest_pv_affinity, on the fields a bound guest keeps. */
int64_t sched_exits_milli(uint32_t wanted, const struct sched_hook_stats *st, uint32_t host_hooks);
double sched_affinity(uint32_t preferred, const struct sched_hook_stats *st, uint32_t hooks);
/*
 * What pv_affinity keeps of sched_affinity on a host offering hooks the guest
 * wants neither required nor preferred (`unwanted`): one minus the sum, over
 * them, of the share of the hosts taking guests that lack each, over
 * PV_HOOK_COUNT, so a guest leaves the hooks few hosts offer to the guests
 * that use them.
 * 1 in a fleet whose hosts all offer the same hooks. The scorer and the
 * rebalancer's mismatch multiply by it.
 */
double sched_hooks_kept(const struct sched_fleet *f, uint32_t unwanted);

/* ---- the pipeline (place.c) ------------------------------------------ */

/*
 * Runs the policy's filters on host hi (stopping at the first refusal unless
 * ex is given: explain runs them all and records reasons) and, when all
 * pass, its scorers; *score is the weighted sum. On refusal *rejected_by is
 * the index in policy.filters of the first filter that refused.
 */
bool sched_evaluate(const struct sched_ctx *c, uint32_t hi, int *rejected_by, double *score,
		    struct sched_host_explain *ex);

/* One half of it: the per-class filters and scorers, or the per-host ones;
 * *score is that half's weighted sum. */
bool sched_evaluate_part(const struct sched_ctx *c, uint32_t hi, bool per_class, int *rejected_by,
			 double *score);

/* The best host so far, with the stable tie-break. */
struct sched_best {
	int32_t host;
	double score;
	int64_t key; /* sched_score_key(score) */
	uint64_t hash;
	bool hash_valid;
};

/* Scores are compared in steps of 1e-9 (closer ones differ only by
 * rounding, and are a tie): a step count, so that ties are transitive and
 * the choice does not depend on the order hosts are looked at. */
static inline int64_t sched_score_key(double score)
{
	return llround(score * 1e9);
}
void sched_best_init(struct sched_best *b);
void sched_best_offer(struct sched_best *b, const struct sched_ctx *c, uint32_t hi, double score);
/* Fills err with SCHED_ENOHOST and the per-filter rejection counts. */
void sched_nohost_message(const struct sched_ctx *c, const struct sched_placement *pl,
			  struct pvm_err *err);

/* ---- fleet internals used by place, explain and rebalance -------------- */

int64_t sched_fleet_find_host(const struct sched_fleet *f, const char *id);
int64_t sched_fleet_find_guest(const struct sched_fleet *f, const char *id);
/* Takes a bound guest off its host and out of its group, keeping its
 * record and id (explain looks at it as if unbound), and puts it back. */
void sched_fleet_detach(struct sched_fleet *f, int32_t gi);
void sched_fleet_attach(struct sched_fleet *f, int32_t gi, int32_t hi);
/* Moves a bound guest record to another host, updating both hosts' sums. */
void sched_fleet_move(struct sched_fleet *f, int32_t gi, int32_t to);
/* Rebuilds the full spec of a bound guest (selector included). */
void sched_fleet_guest_spec(const struct sched_fleet *f, int32_t gi, struct sched_guest *out);

/* ---- consolidation (consolidate.c) ------------------------------------ */

/*
 * Under packing policy p, a plan that repacks the fleet's guests onto fewer
 * hosts, carried out in f as moves[*n..] (each also recorded in undo_guest
 * and undo_from, as the rebalancer's) numbered `plan`, when it uses fewer
 * hosts, lowers the cluster score and fits before max_moves; otherwise f
 * and *n are left as they were. 0 or -ENOMEM.
 */
int sched_consolidate(struct sched_fleet *f, const struct sched_policy *p, uint32_t plan,
		      struct sched_move *moves, int32_t *undo_guest, int32_t *undo_from,
		      unsigned int *n, unsigned int max_moves);

#endif /* PVM_SCHED_INTERNAL_H */
