/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's rate inputs (calls and exits avoided per second per hook,
 * vCPU exits per second) from the cumulative counters hosts report: the
 * increase between two readings of a guest's latest row over the time
 * between them. Every tick reads all latest rows in one snapshot each (hook
 * statistics, exit counts; both ordered by guest), so the rates do not
 * depend on which replica a report went through. Exit pressure comes from
 * the VMM's total of vCPU exits when a guest reports them (emulated guests
 * have no hooks but exit the most), else from its hooks' doorbells.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

struct reading {
	char id[STORE_ID_MAX];
	int64_t hook_ms[PV_HOOK_COUNT]; /* 0: no row for that hook */
	int64_t calls[PV_HOOK_COUNT];
	int64_t avoided[PV_HOOK_COUNT];
	int64_t bells[PV_HOOK_COUNT];
	int64_t exits, exits_ms; /* exits_ms 0: none reported */
	bool exits_total;	 /* exits is the report's "total" row */
	struct sched_hook_stats stats;
};

struct controller_rates {
	struct reading *v; /* sorted by id */
	size_t n, cap;
};

int controller_rates_new(struct controller_rates **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void controller_rates_free(struct controller_rates *r)
{
	if (!r)
		return;
	free(r->v);
	free(r);
}

static int by_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct reading *)elem)->id);
}

static int cmp_reading(const void *a, const void *b)
{
	return strcmp(((const struct reading *)a)->id, ((const struct reading *)b)->id);
}

static struct reading *find(const struct controller_rates *r, const char *id)
{
	return r->n ? bsearch(id, r->v, r->n, sizeof(*r->v), by_id) : NULL;
}

/* The reading for id in a set built in id order: the last one, or a new one. */
static struct reading *take(struct controller_rates *r, const char *id)
{
	if (r->n && strcmp(r->v[r->n - 1].id, id) == 0)
		return &r->v[r->n - 1];
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;
		struct reading *p = realloc(r->v, ncap * sizeof(*p));

		if (!p)
			return NULL;
		r->v = p;
		r->cap = ncap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	snprintf(r->v[r->n].id, STORE_ID_MAX, "%s", id);
	return &r->v[r->n++];
}

static int on_hook_stat(const struct store_hook_stat *st, void *arg)
{
	struct controller_rates *r = arg;
	int b = pv_hook_bit(st->hook, strlen(st->hook));
	struct reading *e;

	if (b < 0)
		return 0;
	e = take(r, st->guest_id);
	if (!e)
		return -ENOMEM;
	e->hook_ms[b] = st->updated_ms;
	e->calls[b] = st->calls;
	e->avoided[b] = st->exits_avoided;
	e->bells[b] = st->doorbells;
	return 0;
}

/* Exit rows come in a second walk; their guests are already in id order. */
struct exits_walk {
	struct controller_rates *r;
	struct controller_rates extra; /* guests with exits and no hook rows */
};

static int on_exit_count(const struct store_exit_count *x, void *arg)
{
	struct exits_walk *w = arg;
	struct reading *e = find(w->r, x->guest_id);

	if (!e)
		e = take(&w->extra, x->guest_id);
	if (!e)
		return -ENOMEM;
	/* A report's total is its "total" row, else the sum of its reasons. */
	if (strcmp(x->reason, "total") == 0) {
		e->exits = x->count;
		e->exits_total = true;
	} else if (!e->exits_total) {
		e->exits += x->count;
	}
	e->exits_ms = x->updated_ms;
	return 0;
}

/* The increase of a cumulative counter; one that went down means the VMM
 * restarted, so its value is the increase. */
static int64_t increase(int64_t cur, int64_t prev)
{
	return cur >= prev ? cur - prev : cur;
}

/* Rates of cur against prev (the previous tick's reading of the same guest);
 * without a newer row, the previous rates stand. */
static void derive(struct reading *cur, const struct reading *prev)
{
	double bells = 0;
	bool any_hook = false;

	cur->stats = prev ? prev->stats : (struct sched_hook_stats){0};
	if (!prev)
		return;
	for (unsigned b = 0; b < PV_HOOK_COUNT; b++) {
		double dt = (double)(cur->hook_ms[b] - prev->hook_ms[b]) / 1000.0;

		if (!prev->hook_ms[b] || dt <= 0)
			continue;
		cur->stats.calls_per_s[b] = (double)increase(cur->calls[b], prev->calls[b]) / dt;
		cur->stats.exits_avoided_per_s[b] =
		    (double)increase(cur->avoided[b], prev->avoided[b]) / dt;
		bells += (double)increase(cur->bells[b], prev->bells[b]) / dt;
		any_hook = true;
	}
	if (cur->exits_ms && prev->exits_ms && cur->exits_ms > prev->exits_ms) {
		double dt = (double)(cur->exits_ms - prev->exits_ms) / 1000.0;

		cur->stats.exits_per_s = (double)increase(cur->exits, prev->exits) / dt;
		cur->stats.known = true;
	} else if (any_hook) {
		cur->stats.exits_per_s = bells;
		cur->stats.known = true;
	}
}

static int merge(struct controller_rates *a, struct controller_rates *b)
{
	size_t n = a->n + b->n;
	struct reading *v;

	if (!b->n)
		return 0;
	v = realloc(a->v, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v + a->n, b->v, b->n * sizeof(*v));
	a->v = v;
	a->n = a->cap = n;
	qsort(a->v, a->n, sizeof(*a->v), cmp_reading);
	return 0;
}

void controller_rates_refresh(struct controller *c)
{
	struct controller_rates cur = {0};
	struct exits_walk w = {.r = &cur};
	struct pvm_err err = {0};
	int ret;

	ret = store_hook_stats_foreach(c->cfg.store, on_hook_stat, &cur, &err);
	if (ret == 0)
		ret = store_guest_exits_foreach(c->cfg.store, on_exit_count, &w, &err);
	if (ret == 0)
		ret = merge(&cur, &w.extra);
	free(w.extra.v);
	if (ret < 0) {
		pvm_log_warn("controller: reading reported statistics: %s",
			     ret == -ENOMEM ? "out of memory" : err.msg);
		free(cur.v);
		return;
	}
	for (size_t i = 0; i < cur.n; i++) {
		derive(&cur.v[i], find(c->rates, cur.v[i].id));
		if (cur.v[i].stats.known)
			sched_fleet_guest_stats(c->fleet, cur.v[i].id, &cur.v[i].stats);
	}
	free(c->rates->v);
	*c->rates = cur;
}

void controller_rates_get(struct controller *c, const char *guest_id, struct sched_hook_stats *out)
{
	const struct reading *e = find(c->rates, guest_id);

	if (e)
		*out = e->stats;
}
