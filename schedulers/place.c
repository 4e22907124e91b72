/* SPDX-License-Identifier: MIT */
/*
 * The placement pipeline: filters -> scorers -> weighted sum -> the best
 * host, ties broken by a stable hash of guest and host ids. explain.c runs
 * the same sched_evaluate() with reasons switched on.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "schedulers/internal.h"

#define SCARCITY_POWER 8

void sched_ctx_init(struct sched_ctx *c, struct sched_fleet *f, const struct sched_policy *p,
		    const struct sched_guest *g, const struct sched_selector_term *sel,
		    unsigned int nsel)
{
	uint32_t wanted = g->hooks_required | g->hooks_preferred;

	c->f = f;
	c->p = p;
	c->g = g;
	c->sel = sel;
	c->nsel = nsel;
	c->group = -1;
	c->id_hash = sched_id_hash(g->id);
	for (unsigned int i = 0; i < p->nfilters; i++)
		c->filter[i] = sched_filter_plugin(p->filters[i]);
	for (unsigned int i = 0; i < p->nscorers; i++)
		c->scorer[i] = sched_scorer_plugin(p->scorers[i].scorer);
	if (g->anti_affinity[0]) {
		int64_t k = sched_map_get(&f->group_map, g->anti_affinity);

		c->group = (int32_t)k;
	}
	sched_scarcity(f, p, &c->weight_cpu, &c->weight_mem);
	for (uint32_t hooks = 0; hooks <= SCHED_HOOKS_ALL; hooks++) {
		c->exits_milli[hooks] = sched_exits_milli(wanted, &g->stats, hooks);
		c->affinity[hooks] = sched_affinity(g->hooks_preferred, &g->stats, hooks);
		c->kept[hooks] = sched_hooks_kept(f, hooks & ~wanted);
	}
	for (unsigned int i = 0; i < p->nfilters; i++)
		if (c->filter[i]->prepare)
			c->filter[i]->prepare(c);
}

double sched_ctx_affinity(const struct sched_ctx *c, const struct sched_host_hot *h)
{
	uint32_t usable = sched_usable_hooks(h->hooks, h->abi_versions, c->g->abi_version);

	return c->affinity[usable] * c->kept[h->hooks & SCHED_HOOKS_ALL];
}

/* One half of the pipeline on host hi: the per-class plugins or the per-host
 * ones. Adds the weighted scores to *score when every filter passes. */
static bool evaluate_part(const struct sched_ctx *c, uint32_t hi, bool per_class, int *rejected_by,
			  double *score, struct sched_host_explain *ex)
{
	const struct sched_policy *p = c->p;
	bool ok = true;

	for (unsigned int i = 0; i < p->nfilters; i++) {
		const struct sched_filter_plugin *fp = c->filter[i];
		bool pass;

		if (fp->per_class != per_class)
			continue;
		if (ex) {
			pass =
			    fp->check(c, hi, ex->filters[i].reason, sizeof(ex->filters[i].reason));
			ex->filters[i].pass = pass;
		} else {
			pass = fp->check(c, hi, NULL, 0);
		}
		if (!pass && ok) {
			ok = false;
			*rejected_by = (int)i;
			/* Explain runs every filter, placing stops at the first no. */
			if (!ex)
				return false;
		}
	}
	if (!ok)
		return false;
	for (unsigned int i = 0; i < p->nscorers; i++) {
		double raw, w;

		if (c->scorer[i]->per_class != per_class)
			continue;
		raw = c->scorer[i]->score(c, hi);
		w = raw * p->scorers[i].weight;
		if (ex) {
			ex->raw[i] = raw;
			ex->weighted[i] = w;
		}
		*score += w;
	}
	return true;
}

bool sched_evaluate_part(const struct sched_ctx *c, uint32_t hi, bool per_class, int *rejected_by,
			 double *score)
{
	*score = 0;
	return evaluate_part(c, hi, per_class, rejected_by, score, NULL);
}

/* How scarce vCPUs and memory are: the share of each the fleet uses, over
 * the larger share, to the 8th power, so a dimension used at half the rate
 * of the other weighs 1/256 (overcommitted vCPUs rarely bind). Both 1 in an
 * empty fleet. */
void sched_scarcity(const struct sched_fleet *f, const struct sched_policy *p, double *cpu,
		    double *mem)
{
	double uc = f->total_cpus
			? (double)f->total_used_vcpus / ((double)f->total_cpus * p->cpu_overcommit)
			: 0;
	double um = f->total_memory_mib
			? (double)f->total_used_memory_mib / (double)f->total_memory_mib
			: 0;
	double top = uc > um ? uc : um;

	*cpu = *mem = 1;
	if (top <= 0)
		return;
	*cpu = pow(uc / top, SCARCITY_POWER);
	*mem = pow(um / top, SCARCITY_POWER);
}

bool sched_evaluate(const struct sched_ctx *c, uint32_t hi, int *rejected_by, double *score,
		    struct sched_host_explain *ex)
{
	double total = 0;
	bool ok;

	/* The per-class half first, as the index runs it, so every path names
	 * the same filter as the first that refused. */
	ok = evaluate_part(c, hi, true, rejected_by, &total, ex);
	if (ok || ex) {
		int by = -1;
		bool host_ok = evaluate_part(c, hi, false, &by, &total, ex);

		if (ok && !host_ok)
			*rejected_by = by;
		ok = ok && host_ok;
	}
	if (ex) {
		ex->feasible = ok;
		ex->total = ok ? total : 0;
	}
	if (!ok)
		return false;
	*score = total;
	return true;
}

/* Feasible hosts to look at before choosing, as kube-scheduler's
 * percentageOfNodesToScore: small fleets are scanned whole. */
static uint32_t feasible_limit(const struct sched_policy *p, uint32_t n)
{
	uint64_t pct, k;

	if (p->limit == SCHED_LIMIT_ALL)
		return UINT32_MAX;
	if (p->limit != SCHED_LIMIT_AUTO)
		return p->limit;
	if (n <= 100)
		return UINT32_MAX;
	pct = n / 125 < 45 ? 50 - n / 125 : 5;
	k = (uint64_t)n * pct / 100;
	return k < 100 ? 100 : (uint32_t)k;
}

void sched_best_init(struct sched_best *b)
{
	b->host = -1;
	b->score = 0;
	b->hash_valid = false;
}

void sched_best_offer(struct sched_best *b, const struct sched_ctx *c, uint32_t hi, double score)
{
	uint64_t h;

	int64_t key = sched_score_key(score);

	if (b->host >= 0 && key < b->key)
		return;
	if (b->host < 0 || key > b->key) {
		b->host = (int32_t)hi;
		b->score = score;
		b->key = key;
		b->hash_valid = false;
		return;
	}
	/* A tie: the lower hash of (guest, host) wins, a stable coin toss. */
	if (!b->hash_valid) {
		b->hash = sched_pair_hash(c->id_hash, c->f->hot[b->host].id_hash);
		b->hash_valid = true;
	}
	h = sched_pair_hash(c->id_hash, c->f->hot[hi].id_hash);
	if (h < b->hash) {
		b->host = (int32_t)hi;
		b->score = score;
		b->key = key;
		b->hash = h;
	}
}

void sched_nohost_message(const struct sched_ctx *c, const struct sched_placement *pl,
			  struct pvm_err *err)
{
	struct pvm_buf b;
	bool first = true;

	pvm_buf_init(&b);
	pvm_buf_printf(&b, "no host can take guest \"%s\": %u hosts", c->g->id, pl->hosts_total);
	for (unsigned int i = 0; i < c->p->nfilters; i++) {
		if (!pl->rejected[i])
			continue;
		pvm_buf_printf(&b, "%s %u %s filter %s", first ? ";" : ",", pl->rejected[i],
			       first ? "excluded by" : "by", sched_filter_name(c->p->filters[i]));
		first = false;
	}
	pvm_err_set(err, SCHED_ENOHOST, "%s", b.failed ? "no host can take the guest" : b.data);
	pvm_buf_free(&b);
}

int sched_fleet_place(struct sched_fleet *f, const struct sched_guest *g,
		      const struct sched_policy *policy, struct sched_placement *out,
		      struct pvm_err *err)
{
	const struct sched_policy *p = policy ? policy : &f->policy;
	struct sched_ctx c;
	struct sched_best best;
	uint32_t n = f->nhosts, limit, start = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sched_guest_validate(g, err);
	if (rc)
		return pvm_err_prefix(err, "guest");
	if (policy) {
		rc = sched_policy_validate(policy, err);
		if (rc)
			return rc;
	}
	if (sched_fleet_find_guest(f, g->id) >= 0)
		return pvm_err_field(err, -EEXIST, "/id", "guest \"%s\" is already bound", g->id);
	sched_ctx_init(&c, f, p, g, g->selector, g->nselector);
	out->hosts_total = n;
	limit = feasible_limit(p, n);
	/* A partial walk starts at a per-guest place, so guests spread over
	 * the fleet instead of all crowding the first hosts. */
	if (limit < n)
		start = (uint32_t)(c.id_hash % n);
	sched_best_init(&best);
	/* Exact placements go through the index; a full walk is its fallback. */
	if (p->limit == SCHED_LIMIT_ALL && sched_index_place(&c, &best, out) == 0)
		n = 0;
	for (uint32_t k = 0, hi = start; k < n; k++, hi = hi + 1 == n ? 0 : hi + 1) {
		double score;
		int by = -1;

		out->hosts_examined++;
		if (!sched_evaluate(&c, hi, &by, &score, NULL)) {
			out->rejected[by]++;
			continue;
		}
		sched_best_offer(&best, &c, hi, score);
		if (++out->hosts_feasible >= limit)
			break;
	}
	if (best.host < 0) {
		sched_nohost_message(&c, out, err);
		return SCHED_ENOHOST;
	}
	memcpy(out->host_id, f->cold[best.host].h.id, sizeof(out->host_id));
	out->score = best.score;
	return 0;
}

int sched_fleet_place_bind(struct sched_fleet *f, const struct sched_guest *g,
			   const struct sched_policy *policy, struct sched_placement *out,
			   struct pvm_err *err)
{
	int rc = sched_fleet_place(f, g, policy, out, err);

	if (rc)
		return rc;
	return sched_fleet_bind(f, g, out->host_id, err);
}
