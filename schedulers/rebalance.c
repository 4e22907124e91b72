/* SPDX-License-Identifier: MIT */
/*
 * The rebalancer, after Ganeti's hbal: a cluster score (lower is better)
 * and greedy hill climbing over single-guest moves. Each candidate move is
 * priced in O(1) from running sums (sum and sum of squares of host use, total
 * overload, total mismatch), so a step costs guests x hosts filter checks.
 * Under a packing policy a consolidation plan (consolidate.c) follows the
 * single moves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

#define MISPLACED_WEIGHT 10.0
/* A move must gain at least this much, so rounding never buys a move. */
#define MIN_GAIN 1e-9

/* The running sums the cluster score is made of. */
struct cluster {
	const struct sched_fleet *f;
	const struct sched_policy *p;
	bool packing;	       /* the policy packs: fuller hosts are better */
	uint32_t nbalanced;    /* ready, not draining hosts: the imbalance population */
	double sm, qm, sc, qc; /* sum and sum of squares of memory and vCPU use */
	double overload;       /* sum over hosts of max(0, exit load - 1) */
	double mismatch;       /* sum over guests of 1 - pv affinity on their host */
	double misplaced;      /* guests on draining or not-ready hosts */
};

static bool balanced(const struct sched_host_hot *h)
{
	return h->state == SCHED_HOST_READY && !h->draining;
}

static double mem_use(const struct sched_host_hot *h, int64_t dmem)
{
	return (double)((int64_t)h->used_memory_mib + dmem) / (double)h->memory_mib;
}

static double cpu_use_of(const struct cluster *cl, const struct sched_host_hot *h, int64_t dvcpus)
{
	return (double)((int64_t)h->used_vcpus + dvcpus) /
	       ((double)h->cpus * cl->p->cpu_overcommit);
}

static double overload_of(const struct cluster *cl, const struct sched_host_hot *h, int64_t dexits)
{
	double load =
	    (double)(h->exits_milli + dexits) / (SCHED_MILLI * sched_exit_capacity(h, cl->p));

	return load > 1 ? load - 1 : 0;
}

static double rec_mismatch(const struct sched_fleet *f, const struct sched_guest_rec *r,
			   const struct sched_host_hot *h)
{
	uint32_t usable = sched_usable_hooks(h->hooks, h->abi_versions, r->abi_version);

	return 1 - sched_affinity(r->hooks_preferred, &r->stats, usable) *
		       sched_hooks_kept(f, h->hooks & ~(r->hooks_required | r->hooks_preferred));
}

static void cluster_init(struct cluster *cl, const struct sched_fleet *f,
			 const struct sched_policy *p)
{
	memset(cl, 0, sizeof(*cl));
	cl->f = f;
	cl->p = p;
	cl->packing = sched_policy_packs(p);
	for (uint32_t i = 0; i < f->nhosts; i++) {
		const struct sched_host_hot *h = &f->hot[i];

		cl->overload += overload_of(cl, h, 0);
		if (balanced(h)) {
			double m = mem_use(h, 0), c = cpu_use_of(cl, h, 0);

			cl->nbalanced++;
			cl->sm += m;
			cl->qm += m * m;
			cl->sc += c;
			cl->qc += c * c;
		} else {
			cl->misplaced += h->nguests;
		}
	}
	for (uint32_t gi = 0; gi < f->guests_used; gi++) {
		const struct sched_guest_rec *r = &f->guests[gi];

		if (r->host >= 0)
			cl->mismatch += rec_mismatch(f, r, &f->hot[r->host]);
	}
}

static double stddev(double s, double q, uint32_t n)
{
	double mean, var;

	if (!n)
		return 0;
	mean = s / n;
	var = q / n - mean * mean;
	return var > 0 ? sqrt(var) : 0;
}

static double cluster_value(const struct cluster *cl, double sm, double qm, double sc, double qc,
			    double overload, double mismatch, double misplaced)
{
	const struct sched_policy *p = cl->p;
	double v = 0;

	/* Spreading evens use out (the spread of use across hosts); packing
	 * fills hosts (the mean square of use: a move gains when it takes a
	 * guest from an emptier host to a fuller one, so emptying hosts pays
	 * and filling an empty one never does). */
	if (cl->packing)
		v -= p->w_imbalance * (cl->nbalanced ? (qm + qc) / (2.0 * cl->nbalanced) : 0);
	else
		v += p->w_imbalance *
		     (stddev(sm, qm, cl->nbalanced) + stddev(sc, qc, cl->nbalanced));
	if (cl->f->nhosts)
		v += p->w_overload * overload / cl->f->nhosts;
	if (cl->f->nguests) {
		v += p->w_mismatch * mismatch / cl->f->nguests;
		v += MISPLACED_WEIGHT * misplaced / cl->f->nguests;
	}
	return v;
}

double sched_fleet_cluster_score(const struct sched_fleet *f, const struct sched_policy *policy)
{
	struct cluster cl;

	cluster_init(&cl, f, policy ? policy : &f->policy);
	return cluster_value(&cl, cl.sm, cl.qm, cl.sc, cl.qc, cl.overload, cl.mismatch,
			     cl.misplaced);
}

/* The sums with guest gi taken off its host a: the half of a move's price
 * that does not depend on the target. */
static void take_off(const struct cluster *cl, int32_t gi, uint32_t a, struct cluster *out)
{
	const struct sched_guest_rec *r = &cl->f->guests[gi];
	const struct sched_host_hot *ha = &cl->f->hot[a];

	*out = *cl;
	if (balanced(ha)) {
		double m0 = mem_use(ha, 0), m1 = mem_use(ha, -(int64_t)r->memory_mib);
		double c0 = cpu_use_of(cl, ha, 0), c1 = cpu_use_of(cl, ha, -(int64_t)r->vcpus);

		out->sm += m1 - m0;
		out->qm += m1 * m1 - m0 * m0;
		out->sc += c1 - c0;
		out->qc += c1 * c1 - c0 * c0;
	} else {
		out->misplaced -= 1;
	}
	out->overload += overload_of(cl, ha, -r->exits_milli) - overload_of(cl, ha, 0);
	out->mismatch -= rec_mismatch(cl->f, r, ha);
}

/* The cluster score once the guest taken off (sums in `off`, ctx c) lands
 * on host b. */
static double price_move(const struct cluster *off, const struct sched_ctx *c, int32_t gi,
			 uint32_t b)
{
	const struct sched_guest_rec *r = &off->f->guests[gi];
	const struct sched_host_hot *hb = &off->f->hot[b];
	uint32_t usable = sched_usable_hooks(hb->hooks, hb->abi_versions, r->abi_version);
	double sm = off->sm, qm = off->qm, sc = off->sc, qc = off->qc;
	double misplaced = off->misplaced;

	if (balanced(hb)) {
		double m0 = mem_use(hb, 0), m1 = mem_use(hb, (int64_t)r->memory_mib);
		double c0 = cpu_use_of(off, hb, 0), c1 = cpu_use_of(off, hb, (int64_t)r->vcpus);

		sm += m1 - m0;
		qm += m1 * m1 - m0 * m0;
		sc += c1 - c0;
		qc += c1 * c1 - c0 * c0;
	} else {
		misplaced += 1;
	}
	return cluster_value(off, sm, qm, sc, qc,
			     off->overload - overload_of(off, hb, 0) +
				 overload_of(off, hb, c->exits_milli[usable]),
			     off->mismatch + 1 - sched_ctx_affinity(c, hb), misplaced);
}

int sched_fleet_rebalance(struct sched_fleet *f, const struct sched_policy *policy,
			  unsigned int max_moves, bool apply, struct sched_move *moves,
			  unsigned int *nmoves, double *before, double *after, struct pvm_err *err)
{
	const struct sched_policy *p = policy ? policy : &f->policy;
	struct sched_guest *spec = NULL;
	int32_t *undo_from = NULL, *undo_guest = NULL;
	unsigned int n = 0;
	int rc = 0;

	*nmoves = 0;
	if (policy) {
		rc = sched_policy_validate(policy, err);
		if (rc)
			return rc;
	}
	if (max_moves && !moves)
		return pvm_err_set(err, -EINVAL, "no room for moves");
	spec = malloc(sizeof(*spec));
	undo_from = calloc(max_moves ? max_moves : 1, sizeof(*undo_from));
	undo_guest = calloc(max_moves ? max_moves : 1, sizeof(*undo_guest));
	if (!spec || !undo_from || !undo_guest) {
		rc = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (before)
		*before = sched_fleet_cluster_score(f, p);
	while (n < max_moves) {
		struct cluster cl;
		double current, best_value;
		int32_t best_guest = -1;
		uint32_t best_to = 0;

		cluster_init(&cl, f, p);
		current = cluster_value(&cl, cl.sm, cl.qm, cl.sc, cl.qc, cl.overload, cl.mismatch,
					cl.misplaced);
		best_value = current - MIN_GAIN;
		for (uint32_t gi = 0; gi < f->guests_used; gi++) {
			const struct sched_guest_rec *r = &f->guests[gi];
			struct sched_ctx c;
			struct cluster off;
			uint32_t a = (uint32_t)r->host;

			if (r->host < 0)
				continue;
			sched_fleet_guest_spec(f, (int32_t)gi, spec);
			sched_ctx_init(&c, f, p, spec, spec->selector, spec->nselector);
			take_off(&cl, (int32_t)gi, a, &off);
			for (uint32_t b = 0; b < f->nhosts; b++) {
				double score, value;
				int by;

				if (b == a)
					continue;
				value = price_move(&off, &c, (int32_t)gi, b);
				if (value >= best_value)
					continue;
				/* Only now the filters: most moves are priced out. */
				if (!sched_evaluate(&c, b, &by, &score, NULL))
					continue;
				best_value = value;
				best_guest = (int32_t)gi;
				best_to = b;
			}
		}
		if (best_guest < 0)
			break;
		undo_guest[n] = best_guest;
		undo_from[n] = f->guests[best_guest].host;
		memcpy(moves[n].guest_id, f->guests[best_guest].id, SCHED_ID_MAX);
		memcpy(moves[n].from, f->cold[undo_from[n]].h.id, SCHED_ID_MAX);
		memcpy(moves[n].to, f->cold[best_to].h.id, SCHED_ID_MAX);
		moves[n].delta = best_value - current;
		moves[n].plan = 0;
		moves[n].plan_delta = moves[n].delta;
		sched_fleet_move(f, best_guest, (int32_t)best_to);
		n++;
	}
	if (sched_policy_packs(p)) {
		rc = sched_consolidate(f, p, 1, moves, undo_guest, undo_from, &n, max_moves);
		if (rc < 0)
			pvm_err_set(err, rc, "out of memory"); /* and every move undone */
	}
	if (after)
		*after = sched_fleet_cluster_score(f, p);
	if (!apply || rc < 0)
		for (unsigned int i = n; i-- > 0;)
			sched_fleet_move(f, undo_guest[i], undo_from[i]);
	*nmoves = rc < 0 ? 0 : n;
out:
	free(spec);
	free(undo_from);
	free(undo_guest);
	return rc;
}
