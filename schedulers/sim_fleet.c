/* SPDX-License-Identifier: MIT */
/*
 * Synthetic fleets and guest mixes for the simulator.
 *
 * Hosts: 16, 32 or 64 CPUs (30/50/20 %), 4 GiB and 32 GiB of disk per CPU,
 * labels zone=z0..z2, of four kinds:
 *   35 % PVM-style hosts with the current VMM: every hook, emulated devices,
 *        microguests and libvirt (TCG) only, KVM pv features minus
 *        PV_UNHALT and PV_TLB_FLUSH;
 *   10 % the same, hardened: no emulated devices;
 *   20 % PVM-style hosts with an older VMM: console, clock and halt hooks;
 *   20 % VMX hosts with the current VMM: every hook, every kind, all features;
 *   15 % legacy libvirt hosts: no hooks, Linux and libvirt guests only.
 *
 * Guests, in three classes. What they ask for is generated from ranges; what
 * it costs on each host comes from the workload profile (sim_profile.c,
 * recorded from real guests by bench/pvaware), never from the scorer:
 *   55 % pv microguests: 1-4 vCPUs, 1-4 GiB per vCPU; require console (and
 *        block for half of them), prefer the other hooks (70 % each). Their
 *        jobs: console 5-100 writes/s of 48 bytes, block 100-3000 1 KiB
 *        requests/s (half writes, half reads back), clock 1k-20k reads/s,
 *        compute 2-30 % of each vCPU (of the profile's rate alone), agent
 *        1-50 calls/s and halt 10-500/s (not in the profile: 24 and 1 exits
 *        each on their twins, at the profile's CPU per exit). Besides, they
 *        exit 50-500 times a second per vCPU.
 *   25 % emulated microguests: 1-4 vCPUs, need the emulated twins, one of
 *        the console, block or clock workloads at 2k-12k exits per second per
 *        vCPU (converted into work by the profile's exits per unit), compute
 *        2-15 %.
 *   20 % Linux guests: 2-8 vCPUs, 2 GiB per vCPU, require kvm-clock, steal
 *        time and PV EOI (30 % also PV_UNHALT), 200-3k exits/s per vCPU,
 *        compute 2-30 %.
 * The statistics the scheduler reads are the counts a VMM would make (the
 * profile's exits and hook calls per unit of the pv variant), known for 85 %
 * of guests, each off by a log-normal factor (sd 0.25): the scheduler never
 * sees the truth.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/sim.h"

/* KVM_FEATURE_* bit numbers (CPUID 0x40000001 EAX). */
#define KF(n)		 (1u << (n))
#define KVM_CLOCKSOURCE	 KF(0)
#define KVM_NOP_IO_DELAY KF(1)
#define KVM_CLOCKSOURCE2 KF(3)
#define KVM_ASYNC_PF	 KF(4)
#define KVM_STEAL_TIME	 KF(5)
#define KVM_PV_EOI	 KF(6)
#define KVM_PV_UNHALT	 KF(7)
#define KVM_PV_TLB_FLUSH KF(9)
#define KVM_PV_SEND_IPI	 KF(11)
#define KVM_POLL_CONTROL KF(12)
#define KVM_ALL                                                                                    \
	(KVM_CLOCKSOURCE | KVM_NOP_IO_DELAY | KVM_CLOCKSOURCE2 | KVM_ASYNC_PF | KVM_STEAL_TIME |   \
	 KVM_PV_EOI | KVM_PV_UNHALT | KVM_PV_TLB_FLUSH | KVM_PV_SEND_IPI | KVM_POLL_CONTROL)
#define KVM_PVM (KVM_ALL & ~(KVM_PV_UNHALT | KVM_PV_TLB_FLUSH))

/* Exits one call costs on the emulated twin, for the hooks the profile does
 * not cover (see above). */
static const double unprofiled_exits_per_call[PV_HOOK_COUNT] = {
    [PV_HOOK_AGENT] = 24,
    [PV_HOOK_HALT] = 1,
};
static const double calls_lo[PV_HOOK_COUNT] = {5, 100, 1000, 1, 10};
static const double calls_hi[PV_HOOK_COUNT] = {100, 3000, 20000, 50, 500};
/* Units of work one call is: bytes a console write, KiB written or read
 * back a block request (a unit is one of each), one clock read. */
static const double units_per_call[PV_HOOK_COUNT] = {
    [PV_HOOK_CONSOLE] = 48,
    [PV_HOOK_BLOCK] = 0.5,
    [PV_HOOK_CLOCK] = 1,
};

uint64_t sched_sim_next(struct sched_sim_rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

double sched_sim_uniform(struct sched_sim_rng *r)
{
	return (double)(sched_sim_next(r) >> 11) * 0x1.0p-53;
}

double sched_sim_normal(struct sched_sim_rng *r)
{
	/* Box-Muller; the second value is dropped to keep the stream simple. */
	double u1 = sched_sim_uniform(r), u2 = sched_sim_uniform(r);

	return sqrt(-2 * log(u1 > 0 ? u1 : 0x1.0p-53)) * cos(2 * M_PI * u2);
}

static double range(struct sched_sim_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * sched_sim_uniform(r);
}

static bool chance(struct sched_sim_rng *r, double p)
{
	return sched_sim_uniform(r) < p;
}

static void gen_host(struct sched_sim_rng *r, uint32_t i, struct sched_host *h)
{
	double t = sched_sim_uniform(r), c = sched_sim_uniform(r);
	const uint32_t all = SCHED_HOOKS_ALL;

	sched_host_init(h);
	snprintf(h->id, sizeof(h->id), "host-%05u", i);
	h->cpus = c < 0.3 ? 16 : c < 0.8 ? 32 : 64;
	h->memory_mib = (uint64_t)h->cpus * 4096;
	h->disk_gib = (uint64_t)h->cpus * 32;
	h->abi_versions = 1u << 1;
	h->emulated_devices = true;
	h->nlabels = 1;
	snprintf(h->labels[0].key, sizeof(h->labels[0].key), "zone");
	snprintf(h->labels[0].value, sizeof(h->labels[0].value), "z%u", i % 3);
	if (t < 0.45) {
		h->hooks = all;
		h->kinds =
		    SCHED_KIND_BIT(SCHED_KIND_MICROGUEST) | SCHED_KIND_BIT(SCHED_KIND_LIBVIRT);
		h->kvm_features = KVM_PVM;
		h->emulated_devices = t < 0.35;
	} else if (t < 0.65) {
		h->hooks = SCHED_HOOK_BIT(PV_HOOK_CONSOLE) | SCHED_HOOK_BIT(PV_HOOK_CLOCK) |
			   SCHED_HOOK_BIT(PV_HOOK_HALT);
		h->kinds =
		    SCHED_KIND_BIT(SCHED_KIND_MICROGUEST) | SCHED_KIND_BIT(SCHED_KIND_LIBVIRT);
		h->kvm_features = KVM_PVM;
	} else if (t < 0.85) {
		h->hooks = all;
		h->kinds = SCHED_KINDS_ALL;
		h->kvm_features = KVM_ALL;
	} else {
		h->hooks = 0;
		h->abi_versions = 0;
		h->kinds = SCHED_KIND_BIT(SCHED_KIND_LINUX) | SCHED_KIND_BIT(SCHED_KIND_LIBVIRT);
		h->kvm_features = KVM_ALL;
	}
}

/* What the guest reports: the truth seen through noise, or nothing. */
static void report(struct sched_sim_rng *r, struct sched_sim_guest *g)
{
	struct sched_hook_stats *st = &g->spec.stats;

	if (!chance(r, 0.85)) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = g->truth;
	st->exits_per_s *= exp(0.25 * sched_sim_normal(r));
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		double noise = exp(0.25 * sched_sim_normal(r));

		st->calls_per_s[h] *= noise;
		st->exits_avoided_per_s[h] *= noise;
	}
}

static int work_of_hook(unsigned int hook)
{
	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		if (sched_sim_work_hook(w) == (int)hook)
			return w;
	return -1;
}

/* Compute asked for: a share of each vCPU at the profile's rate alone. */
static void compute(const struct sched_sim_profile *prof, struct sched_sim_guest *sg, double share)
{
	sg->work[SCHED_SIM_WORK_COMPUTE] =
	    share * sg->spec.vcpus *
	    prof->work[SCHED_SIM_WORK_COMPUTE][SCHED_SIM_VAR_EMULATED].units_per_s;
}

/* What a VMM would count of the guest on a host with all it wants. */
static void count(const struct sched_sim_profile *prof, struct sched_sim_guest *sg)
{
	struct sched_hook_stats *t = &sg->truth;
	uint32_t wanted = sg->spec.hooks_required | sg->spec.hooks_preferred;

	t->exits_per_s = sg->base_exits_per_s;
	for (int w = 0; w < SCHED_SIM_WORKS; w++) {
		int hook = sched_sim_work_hook(w);
		enum sched_sim_variant v = hook >= 0 && (wanted & SCHED_HOOK_BIT(hook))
					       ? SCHED_SIM_VAR_PV
					       : SCHED_SIM_VAR_EMULATED;
		double exits = sg->work[w] * sched_sim_profile_exits_per_unit(prof, w, v);

		t->exits_per_s += exits;
		if (v != SCHED_SIM_VAR_PV)
			continue;
		t->calls_per_s[hook] = sg->work[w] * sched_sim_profile_calls_per_unit(prof, w, v);
		t->exits_avoided_per_s[hook] = sg->work[w] * sched_sim_profile_exits_per_unit(
								 prof, w, SCHED_SIM_VAR_EMULATED) -
					       exits;
		if (t->exits_avoided_per_s[hook] < 0)
			t->exits_avoided_per_s[hook] = 0;
	}
}

static void gen_guest(struct sched_sim_rng *r, const struct sched_sim_profile *prof, uint32_t i,
		      struct sched_sim_guest *sg)
{
	struct sched_guest *g = &sg->spec;
	double cls = sched_sim_uniform(r);
	double v = sched_sim_uniform(r);

	memset(sg, 0, sizeof(*sg));
	sched_guest_init(g);
	snprintf(g->id, sizeof(g->id), "guest-%06u", i);
	sg->truth.known = true;
	if (cls < 0.55) {
		uint32_t wanted;

		sg->cls = SCHED_SIM_PV;
		g->vcpus = v < 0.4 ? 1 : v < 0.8 ? 2 : 4;
		g->memory_mib = (uint64_t)g->vcpus * 1024 * (1u << (sched_sim_next(r) % 3));
		g->abi_version = 1;
		g->hooks_required = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
		if (chance(r, 0.5))
			g->hooks_required |= SCHED_HOOK_BIT(PV_HOOK_BLOCK);
		for (unsigned int h = 1; h < PV_HOOK_COUNT; h++)
			if (!(g->hooks_required & SCHED_HOOK_BIT(h)) && chance(r, 0.7))
				g->hooks_preferred |= SCHED_HOOK_BIT(h);
		wanted = g->hooks_required | g->hooks_preferred;
		for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
			double calls;
			int w = work_of_hook(h);

			if (!(wanted & SCHED_HOOK_BIT(h)))
				continue;
			calls = range(r, calls_lo[h], calls_hi[h]);
			if (w >= 0) {
				sg->work[w] = calls * units_per_call[h];
			} else {
				sg->truth.calls_per_s[h] = calls;
				sg->truth.exits_avoided_per_s[h] =
				    calls * unprofiled_exits_per_call[h];
			}
		}
		sg->base_exits_per_s = g->vcpus * range(r, 50, 500);
		compute(prof, sg, range(r, 0.02, 0.3));
	} else if (cls < 0.80) {
		int w = (int)(sched_sim_next(r) % SCHED_SIM_WORK_COMPUTE);
		double epu = sched_sim_profile_exits_per_unit(prof, w, SCHED_SIM_VAR_EMULATED);

		sg->cls = SCHED_SIM_EMULATED;
		g->vcpus = v < 0.4 ? 1 : v < 0.8 ? 2 : 4;
		g->memory_mib = (uint64_t)g->vcpus * 1024 * (1u << (sched_sim_next(r) % 3));
		g->needs_emulated = true;
		sg->work[w] = epu > 0 ? g->vcpus * range(r, 2000, 12000) / epu : 0;
		compute(prof, sg, range(r, 0.02, 0.15));
	} else {
		sg->cls = SCHED_SIM_LINUX;
		g->kind = SCHED_KIND_LINUX;
		g->vcpus = v < 0.4 ? 2 : v < 0.8 ? 4 : 8;
		g->memory_mib = (uint64_t)g->vcpus * 2048;
		g->kvm_features_required = KVM_CLOCKSOURCE2 | KVM_STEAL_TIME | KVM_PV_EOI;
		if (chance(r, 0.3))
			g->kvm_features_required |= KVM_PV_UNHALT;
		sg->base_exits_per_s = g->vcpus * range(r, 200, 3000);
		compute(prof, sg, range(r, 0.02, 0.3));
	}
	g->disk_gib = 10 * g->vcpus;
	count(prof, sg);
	report(r, sg);
}

static int alloc_sim(uint32_t nhosts, uint32_t nguests, struct sched_sim *s, struct pvm_err *err)
{
	memset(s, 0, sizeof(*s));
	s->hosts = calloc(nhosts ? nhosts : 1, sizeof(*s->hosts));
	s->guests = calloc(nguests ? nguests : 1, sizeof(*s->guests));
	if (!s->hosts || !s->guests) {
		sched_sim_free(s);
		return pvm_err_set(err, -ENOMEM, "out of memory for %u hosts and %u guests", nhosts,
				   nguests);
	}
	s->nhosts = nhosts;
	s->nguests = nguests;
	return 0;
}

int sched_sim_generate(uint32_t nhosts, uint32_t nguests, uint64_t seed,
		       const struct sched_sim_profile *profile, struct sched_sim *out,
		       struct pvm_err *err)
{
	struct sched_sim_rng r = {.s = seed};
	const struct sched_sim_profile *prof = profile ? profile : sched_sim_profile_recorded();
	double cpe = prof ? sched_sim_profile_cpu_per_exit(prof) : 0;
	int rc;

	if (!prof)
		return pvm_err_set(err, -EINVAL, "the built-in profile does not parse");
	if (cpe <= 0)
		return pvm_err_set(err, -EINVAL,
				   "profile %s: no workload whose emulated twin costs more CPU "
				   "and more exits than its pv variant, so no CPU per exit",
				   prof->platform);
	rc = alloc_sim(nhosts, nguests, out, err);
	if (rc)
		return rc;
	out->profile = *prof;
	out->cpu_per_exit_s = cpe;
	for (uint32_t i = 0; i < nhosts; i++)
		gen_host(&r, i, &out->hosts[i]);
	for (uint32_t i = 0; i < nguests; i++) {
		gen_guest(&r, prof, i, &out->guests[i]);
		out->nclass[out->guests[i].cls]++;
	}
	return 0;
}

/* Appends one guest of a packing instance; -ENOMEM. */
static int pack_guest(struct sched_sim_guest **gs, uint32_t *n, uint32_t *cap, uint32_t vcpus,
		      uint64_t memory_mib)
{
	struct sched_sim_guest *g;

	if (*n == *cap) {
		struct sched_sim_guest *ng = realloc(*gs, 2 * *cap * sizeof(**gs));

		if (!ng)
			return -ENOMEM;
		*gs = ng;
		*cap *= 2;
	}
	g = &(*gs)[*n];
	memset(g, 0, sizeof(*g));
	sched_guest_init(&g->spec);
	snprintf(g->spec.id, sizeof(g->spec.id), "pack-%07u", *n);
	g->spec.vcpus = vcpus;
	g->spec.memory_mib = memory_mib;
	g->cls = SCHED_SIM_PV;
	(*n)++;
	return 0;
}

/* The guests in random arrival order (Fisher-Yates), then the hosts. */
static int pack_finish(struct sched_sim_rng *r, struct sched_sim_guest *gs, uint32_t n,
		       uint32_t nhosts, const struct sched_host *shape, struct sched_sim *out,
		       struct pvm_err *err)
{
	int rc;

	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)(sched_sim_next(r) % i);
		struct sched_sim_guest t = gs[i - 1];

		gs[i - 1] = gs[j];
		gs[j] = t;
	}
	rc = alloc_sim(nhosts, 0, out, err);
	if (rc) {
		free(gs);
		return rc;
	}
	free(out->guests);
	out->guests = gs;
	out->nguests = n;
	out->nclass[SCHED_SIM_PV] = n;
	for (uint32_t i = 0; i < nhosts; i++) {
		out->hosts[i] = *shape;
		snprintf(out->hosts[i].id, sizeof(out->hosts[i].id), "bin-%05u", i);
	}
	return 0;
}

int sched_sim_packing(uint32_t full, uint32_t spare, uint64_t seed, struct sched_sim *out,
		      struct pvm_err *err)
{
	/* Common sizes (vCPUs, GiB): powers of two and the 3 x 2^k sizes
	 * between them (sizes that all divide each other are packed perfectly
	 * by any first fit, which would make the instance too easy). Each
	 * host's 256 GiB is cut into them. */
	static const uint32_t sizes[][2] = {{1, 1},  {1, 2},  {1, 3},  {2, 4},	{2, 6},	  {2, 8},
					    {4, 12}, {4, 16}, {8, 24}, {8, 32}, {16, 48}, {16, 64}};
	struct sched_sim_rng r = {.s = seed};
	uint32_t n = 0, cap = 64;
	struct sched_sim_guest *gs = malloc(cap * sizeof(*gs));
	struct sched_host shape;

	if (!gs)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	for (uint32_t h = 0; h < full; h++) {
		uint32_t left = 256;

		while (left) {
			uint32_t k = (uint32_t)(sched_sim_next(&r) % PVM_ARRAY_SIZE(sizes));

			if (sizes[k][1] > left)
				continue;
			if (pack_guest(&gs, &n, &cap, sizes[k][0], (uint64_t)sizes[k][1] * 1024)) {
				free(gs);
				return pvm_err_set(err, -ENOMEM, "out of memory");
			}
			left -= sizes[k][1];
		}
	}
	sched_host_init(&shape);
	/* vCPUs never bind: the largest guest has 1 vCPU per 4 GiB and 64 CPUs
	 * x 4 overcommit allow 1 per GiB. */
	shape.cpus = 64;
	shape.memory_mib = 256 * 1024;
	shape.disk_gib = 1024;
	return pack_finish(&r, gs, n, full + spare, &shape, out, err);
}

/* k - 1 distinct cut points in 1..total-1, sorted: k positive parts. */
static void cut(struct sched_sim_rng *r, uint32_t total, uint32_t k, uint32_t *parts)
{
	uint32_t pts[SCHED_SIM_CUT_MAX + 1];
	uint32_t n = 0;

	while (n < k - 1) {
		uint32_t p = 1 + (uint32_t)(sched_sim_next(r) % (total - 1));
		uint32_t i = n;

		for (uint32_t j = 0; j < n; j++)
			if (pts[j] == p)
				i = UINT32_MAX;
		if (i == UINT32_MAX)
			continue;
		while (i > 0 && pts[i - 1] > p) {
			pts[i] = pts[i - 1];
			i--;
		}
		pts[i] = p;
		n++;
	}
	for (uint32_t i = 0; i < k; i++)
		parts[i] = (i + 1 < k ? pts[i] : total) - (i ? pts[i - 1] : 0);
}

int sched_sim_packing_vec(uint32_t full, uint32_t spare, uint64_t seed, struct sched_sim *out,
			  struct pvm_err *err)
{
	struct sched_sim_rng r = {.s = seed};
	uint32_t n = 0, cap = 64;
	struct sched_sim_guest *gs = malloc(cap * sizeof(*gs));
	struct sched_host shape;

	if (!gs)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	for (uint32_t h = 0; h < full; h++) {
		uint32_t k =
		    SCHED_SIM_CUT_MIN +
		    (uint32_t)(sched_sim_next(&r) % (SCHED_SIM_CUT_MAX - SCHED_SIM_CUT_MIN + 1));
		uint32_t cpu[SCHED_SIM_CUT_MAX], mem[SCHED_SIM_CUT_MAX];

		cut(&r, SCHED_SIM_VEC_CPUS, k, cpu);
		cut(&r, SCHED_SIM_VEC_MEM_MIB / SCHED_SIM_VEC_STEP_MIB, k, mem);
		/* Pair the parts at random, so big is not always with big. */
		for (uint32_t i = k; i > 1; i--) {
			uint32_t j = (uint32_t)(sched_sim_next(&r) % i), t = mem[i - 1];

			mem[i - 1] = mem[j];
			mem[j] = t;
		}
		for (uint32_t i = 0; i < k; i++)
			if (pack_guest(&gs, &n, &cap, cpu[i],
				       (uint64_t)mem[i] * SCHED_SIM_VEC_STEP_MIB)) {
				free(gs);
				return pvm_err_set(err, -ENOMEM, "out of memory");
			}
	}
	sched_host_init(&shape);
	shape.cpus = SCHED_SIM_VEC_CPUS;
	shape.memory_mib = SCHED_SIM_VEC_MEM_MIB;
	shape.disk_gib = 1024;
	return pack_finish(&r, gs, n, full + spare, &shape, out, err);
}

void sched_sim_free(struct sched_sim *s)
{
	free(s->hosts);
	free(s->guests);
	memset(s, 0, sizeof(*s));
}

bool sched_sim_compatible(const struct sched_host *h, const struct sched_guest *g)
{
	uint32_t kinds = h->kinds ? h->kinds : SCHED_KINDS_ALL;

	/* The host's driver must run this kind of guest at all. */
	if (!(kinds & (1u << g->kind)))
		return false;
	/* Negotiation: every required hook offered at the guest's version. */
	if (g->hooks_required) {
		if (!(h->abi_versions & (1u << g->abi_version)))
			return false;
		if ((h->hooks & g->hooks_required) != g->hooks_required)
			return false;
	}
	if (g->needs_emulated && !h->emulated_devices)
		return false;
	/* A Linux kernel that needs a KVM pv feature fails to boot without it. */
	return (h->kvm_features & g->kvm_features_required) == g->kvm_features_required;
}
