/* SPDX-License-Identifier: MIT */
/*
 * The index behind exact placements (limit=all): hosts grouped into classes
 * by what the per-class plugins read and by shape, each class's hosts binned
 * by free memory. A placement runs the per-class filters and scorers once per
 * class, visits classes by their score bound, skips bins too full for the
 * guest's memory and bins whose bound cannot beat the best host so far; the
 * hosts it does visit go through the same plugins as a full walk, so the
 * choice is the full walk's. Kept up to date on every change of a host's
 * description or use, O(1) apart from a class's creation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

static const char *class_key(const void *owner, uint32_t i)
{
	return ((const struct sched_fleet *)owner)->classes[i].key;
}

static void signature(const struct sched_host_hot *h, char *key, size_t len)
{
	snprintf(key, len, "%u/%d%d%d%d/%x/%x/%x/%x/%x/%u/%llu", (unsigned int)h->state,
		 h->cordoned, h->draining, h->emulated_devices, h->linux_tcg, h->kinds,
		 h->platforms, h->hooks, h->abi_versions, h->kvm_features, h->cpus,
		 (unsigned long long)h->memory_mib);
}

static uint32_t bin_of(const struct sched_host_hot *h)
{
	uint64_t b;

	if (h->used_memory_mib >= h->memory_mib)
		return 0;
	b = (h->memory_mib - h->used_memory_mib) * SCHED_BINS / h->memory_mib;
	return b > SCHED_BINS ? SCHED_BINS : (uint32_t)b;
}

static int class_get(struct sched_fleet *f, const struct sched_host_hot *h, uint32_t *out)
{
	char key[SCHED_CLASS_KEY_MAX];
	struct sched_class *k;
	int64_t i;
	uint32_t ci;
	int rc;

	signature(h, key, sizeof(key));
	i = sched_map_get(&f->class_map, key);
	if (i >= 0) {
		*out = (uint32_t)i;
		return 0;
	}
	if (f->free_class >= 0) {
		ci = (uint32_t)f->free_class;
		f->free_class = f->classes[ci].next_free;
	} else {
		if (f->nclasses == f->classes_cap) {
			uint32_t ncap = f->classes_cap ? f->classes_cap * 2 : 8;
			struct sched_class *v = realloc(f->classes, ncap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			f->classes = v;
			f->classes_cap = ncap;
		}
		ci = f->nclasses++;
	}
	k = &f->classes[ci];
	memset(k, 0, sizeof(*k));
	k->next_free = -1;
	memcpy(k->key, key, sizeof(key));
	rc = sched_map_put(&f->class_map, k->key, ci);
	if (rc) {
		k->key[0] = '\0';
		k->next_free = f->free_class;
		f->free_class = (int32_t)ci;
		return rc;
	}
	*out = ci;
	return 0;
}

static int bin_push(struct sched_fleet *f, uint32_t hi, uint32_t b)
{
	struct sched_host_hot *h = &f->hot[hi];
	struct sched_class *k = &f->classes[h->cls];
	struct sched_bin *bin = &k->bins[b];

	if (bin->n == bin->cap) {
		uint32_t ncap = bin->cap ? bin->cap * 2 : 4;
		uint32_t *v = realloc(bin->hosts, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		bin->hosts = v;
		bin->cap = ncap;
	}
	h->bin = b;
	h->slot = bin->n;
	h->bin_exits_milli = h->exits_milli;
	h->bin_used_vcpus = h->used_vcpus;
	if (!bin->n || h->exits_milli < bin->min_exits_milli)
		bin->min_exits_milli = h->exits_milli;
	if (!bin->n || h->used_vcpus > bin->max_used_vcpus)
		bin->max_used_vcpus = h->used_vcpus;
	if (h->exit_cost_ns <= 0)
		bin->unmeasured++;
	else if (bin->min_exit_cost_ns <= 0 || h->exit_cost_ns < bin->min_exit_cost_ns)
		bin->min_exit_cost_ns = h->exit_cost_ns;
	bin->hosts[bin->n++] = hi;
	k->nonempty[b / 64] |= 1ull << (b % 64);
	return 0;
}

static void bin_pop(struct sched_fleet *f, uint32_t hi)
{
	struct sched_host_hot *h = &f->hot[hi];
	struct sched_class *k = &f->classes[h->cls];
	struct sched_bin *bin = &k->bins[h->bin];
	uint32_t last = bin->hosts[--bin->n];

	bin->hosts[h->slot] = last;
	f->hot[last].slot = h->slot;
	if (h->exit_cost_ns <= 0)
		bin->unmeasured--;
	else if (h->exit_cost_ns <= bin->min_exit_cost_ns)
		bin->dirty = true;
	if (h->bin_exits_milli <= bin->min_exits_milli || h->bin_used_vcpus >= bin->max_used_vcpus)
		bin->dirty = true;
	if (!bin->n) {
		k->nonempty[h->bin / 64] &= ~(1ull << (h->bin % 64));
		bin->min_exit_cost_ns = 0;
		bin->dirty = false;
	}
}

/* The bin's minimums again, after one of them left. */
static void bin_rescan(const struct sched_fleet *f, struct sched_bin *bin)
{
	bin->min_exit_cost_ns = 0;
	for (uint32_t k = 0; k < bin->n; k++) {
		const struct sched_host_hot *h = &f->hot[bin->hosts[k]];

		if (!k || h->bin_exits_milli < bin->min_exits_milli)
			bin->min_exits_milli = h->bin_exits_milli;
		if (!k || h->bin_used_vcpus > bin->max_used_vcpus)
			bin->max_used_vcpus = h->bin_used_vcpus;
		if (h->exit_cost_ns > 0 &&
		    (bin->min_exit_cost_ns <= 0 || h->exit_cost_ns < bin->min_exit_cost_ns))
			bin->min_exit_cost_ns = h->exit_cost_ns;
	}
	bin->dirty = false;
}

void sched_index_init(struct sched_fleet *f)
{
	f->free_class = -1;
	sched_map_init(&f->class_map, class_key, f);
}

/* Once stale (out of memory), the index is left alone: no host's place in
 * it can be trusted, and exact placements walk every host. */
int sched_index_add(struct sched_fleet *f, uint32_t hi)
{
	struct sched_host_hot *h = &f->hot[hi];
	int rc;

	if (f->index_stale)
		return 0;
	rc = class_get(f, h, &h->cls);
	if (rc)
		return rc;
	rc = bin_push(f, hi, bin_of(h));
	if (rc)
		return rc;
	f->classes[h->cls].nhosts++;
	return 0;
}

void sched_index_remove(struct sched_fleet *f, uint32_t hi)
{
	struct sched_host_hot *h = &f->hot[hi];
	struct sched_class *k;

	if (f->index_stale)
		return;
	k = &f->classes[h->cls];
	bin_pop(f, hi);
	if (--k->nhosts)
		return;
	/* An empty class goes back to the free list: signatures that churn
	 * (a host flapping between ready and unreachable) reuse it. */
	sched_map_del(&f->class_map, k->key);
	for (unsigned int b = 0; b <= SCHED_BINS; b++)
		free(k->bins[b].hosts);
	memset(k, 0, sizeof(*k));
	k->next_free = f->free_class;
	f->free_class = (int32_t)h->cls;
}

void sched_index_refresh(struct sched_fleet *f, uint32_t hi)
{
	struct sched_host_hot *h = &f->hot[hi];
	uint32_t b;

	if (f->index_stale)
		return;
	b = bin_of(h);
	if (b == h->bin) {
		struct sched_bin *bin = &f->classes[h->cls].bins[b];

		/* A minimum (maximum) that moves the wrong way is found again
		 * when next asked for. */
		if (h->exits_milli < bin->min_exits_milli)
			bin->min_exits_milli = h->exits_milli;
		else if (h->bin_exits_milli <= bin->min_exits_milli &&
			 h->exits_milli != h->bin_exits_milli)
			bin->dirty = true;
		if (h->used_vcpus > bin->max_used_vcpus)
			bin->max_used_vcpus = h->used_vcpus;
		else if (h->bin_used_vcpus >= bin->max_used_vcpus &&
			 h->used_vcpus != h->bin_used_vcpus)
			bin->dirty = true;
		h->bin_exits_milli = h->exits_milli;
		h->bin_used_vcpus = h->used_vcpus;
		return;
	}
	bin_pop(f, hi);
	if (bin_push(f, hi, b) == 0)
		return;
	/* Out of memory: the old bin has room again, but the host's bin no
	 * longer says what its free memory is, so exact placements stop using
	 * the index. */
	(void)bin_push(f, hi, h->bin);
	f->index_stale = true;
}

void sched_index_renumber(struct sched_fleet *f, uint32_t to)
{
	struct sched_host_hot *h = &f->hot[to];

	if (!f->index_stale)
		f->classes[h->cls].bins[h->bin].hosts[h->slot] = to;
}

void sched_index_free(struct sched_fleet *f)
{
	for (uint32_t ci = 0; ci < f->nclasses; ci++)
		for (unsigned int b = 0; b <= SCHED_BINS; b++)
			free(f->classes[ci].bins[b].hosts);
	free(f->classes);
	free(f->cands);
	sched_map_free(&f->class_map);
}

static void bin_span(const struct sched_ctx *c, const struct sched_host_hot *h, uint32_t b,
		     struct sched_bin *bin, struct sched_span *s)
{
	uint64_t m = h->memory_mib;
	double measured;

	if (bin->dirty)
		bin_rescan(c->f, bin);
	/* The cheapest exit measured, or the policy's figure for hosts that
	 * measured none, whichever absorbs more. */
	s->max_exit_capacity = bin->unmeasured ? sched_exit_capacity_of(h->cpus, 0, c->p) : 0;
	if (bin->min_exit_cost_ns > 0) {
		measured = sched_exit_capacity_of(h->cpus, bin->min_exit_cost_ns, c->p);
		if (measured > s->max_exit_capacity)
			s->max_exit_capacity = measured;
	}
	s->usable_hooks = sched_usable_hooks(h->hooks, h->abi_versions, c->g->abi_version);
	s->min_exits_milli = bin->min_exits_milli;
	s->max_used_vcpus = bin->max_used_vcpus;
	s->cpus = h->cpus;
	s->memory_mib = m;
	/* floor(f * BINS / m) == b  <=>  b * m <= f * BINS < (b + 1) * m */
	s->free_lo = ((uint64_t)b * m + SCHED_BINS - 1) / SCHED_BINS;
	s->free_hi = ((uint64_t)(b + 1) * m - 1) / SCHED_BINS;
}

/* The bound of the per-host scorers over a span, weighted. */
static double span_bound(const struct sched_ctx *c, const struct sched_span *s)
{
	double b = 0;

	for (unsigned int i = 0; i < c->p->nscorers; i++) {
		const struct sched_scorer_plugin *sp = c->scorer[i];

		if (!sp->per_class)
			b += c->p->scorers[i].weight * (sp->bound ? sp->bound(c, s) : 1);
	}
	return b;
}

/* The policy's capacity filter, when it is the first per-host filter (then a
 * host too full for the guest's memory counts as refused by it). */
static int memory_cut_filter(const struct sched_ctx *c)
{
	for (unsigned int i = 0; i < c->p->nfilters; i++)
		if (!c->filter[i]->per_class)
			return c->p->filters[i] == SCHED_FILTER_CAPACITY ? (int)i : -1;
	return -1;
}

static bool prunes(const struct sched_best *best, double bound)
{
	/* No host of the bin can reach the best's step, not even as a tie. */
	return best->host >= 0 && sched_score_key(bound) < best->key;
}

static void visit_bin(const struct sched_ctx *c, const struct sched_bin *bin, double base,
		      struct sched_best *best, struct sched_placement *out)
{
	for (uint32_t k = 0; k < bin->n; k++) {
		uint32_t hi = bin->hosts[k];
		double score;
		int by = -1;

		out->hosts_examined++;
		if (!sched_evaluate_part(c, hi, false, &by, &score)) {
			out->rejected[by]++;
			continue;
		}
		out->hosts_feasible++;
		sched_best_offer(best, c, hi, base + score);
	}
}

/* The candidates form a max-heap by bound. */
static void heap_down(struct sched_cand *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct sched_cand t;

		if (l < n && h[l].bound > h[m].bound)
			m = l;
		if (r < n && h[r].bound > h[m].bound)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Every bin of class ci that may hold the guest, with its bound, into the
 * candidates; the bins too full for its memory count as refused. */
static int gather(const struct sched_ctx *c, uint32_t ci, double base, int cut_by,
		  struct sched_placement *out)
{
	struct sched_fleet *f = c->f;
	struct sched_class *k = &f->classes[ci];
	const struct sched_host_hot *any = NULL;

	for (unsigned int b = 0; b <= SCHED_BINS; b++) {
		struct sched_bin *bin = &k->bins[b];
		struct sched_span s;

		if (!(k->nonempty[b / 64] >> (b % 64) & 1))
			continue;
		if (!any)
			any = &f->hot[bin->hosts[0]];
		bin_span(c, any, b, bin, &s);
		if (cut_by >= 0 && s.free_hi < c->g->memory_mib) {
			out->hosts_examined += bin->n;
			out->rejected[cut_by] += bin->n;
			continue;
		}
		if (f->ncands == f->cands_cap) {
			uint32_t ncap = f->cands_cap ? f->cands_cap * 2 : 256;
			struct sched_cand *v = realloc(f->cands, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			f->cands = v;
			f->cands_cap = ncap;
		}
		f->cands[f->ncands++] = (struct sched_cand){base + span_bound(c, &s), base, ci, b};
	}
	return 0;
}

int sched_index_place(const struct sched_ctx *c, struct sched_best *best,
		      struct sched_placement *out)
{
	struct sched_fleet *f = c->f;
	int cut_by = memory_cut_filter(c);
	struct sched_placement counts = *out;

	if (f->index_stale)
		return -ESTALE;
	f->ncands = 0;
	/* Per class: the per-class plugins on one of its hosts; then its bins. */
	for (uint32_t ci = 0; ci < f->nclasses; ci++) {
		const struct sched_class *k = &f->classes[ci];
		uint32_t hi = 0;
		double base;
		int by = -1;

		if (!k->nhosts)
			continue;
		for (unsigned int b = 0; b <= SCHED_BINS; b++)
			if (k->bins[b].n) {
				hi = k->bins[b].hosts[0];
				break;
			}
		if (!sched_evaluate_part(c, hi, true, &by, &base)) {
			counts.hosts_examined += k->nhosts;
			counts.rejected[by] += k->nhosts;
			continue;
		}
		if (gather(c, ci, base, cut_by, &counts))
			return -ENOMEM;
	}
	*out = counts;
	/* Best bound first, until no bin left can beat the best host. */
	for (uint32_t i = f->ncands / 2; i-- > 0;)
		heap_down(f->cands, f->ncands, i);
	for (uint32_t n = f->ncands; n > 0; n--) {
		struct sched_cand top = f->cands[0];
		const struct sched_bin *bin = &f->classes[top.cls].bins[top.bin];

		f->cands[0] = f->cands[n - 1];
		heap_down(f->cands, n - 1, 0);
		if (prunes(best, top.bound)) {
			out->hosts_pruned += bin->n;
			continue;
		}
		visit_bin(c, bin, top.base, best, out);
	}
	return 0;
}
