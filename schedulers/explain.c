/* SPDX-License-Identifier: MIT */
/*
 * explain: every host, each filter's verdict and reason, each scorer's raw
 * and weighted score, from the same sched_evaluate() that place uses.
 */
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

int sched_fleet_explain(struct sched_fleet *f, const struct sched_guest *g,
			const struct sched_policy *policy, struct sched_explain **out,
			struct pvm_err *err)
{
	const struct sched_policy *p = policy ? policy : &f->policy;
	struct sched_explain *e;
	struct sched_ctx c;
	struct sched_best best;
	int64_t gi;
	int32_t bound_to = -1;
	int rc;

	rc = sched_guest_validate(g, err);
	if (rc)
		return pvm_err_prefix(err, "guest");
	if (policy) {
		rc = sched_policy_validate(policy, err);
		if (rc)
			return rc;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	e->hosts = calloc(f->nhosts ? f->nhosts : 1, sizeof(*e->hosts));
	if (!e->hosts) {
		free(e);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	e->policy = *p;
	memcpy(e->guest_id, g->id, sizeof(e->guest_id));
	e->nhosts = f->nhosts;
	e->placement.hosts_total = f->nhosts;

	/* A bound guest is explained as if it were not there yet. */
	gi = sched_fleet_find_guest(f, g->id);
	if (gi >= 0) {
		bound_to = f->guests[gi].host;
		sched_fleet_detach(f, (int32_t)gi);
	}
	sched_ctx_init(&c, f, p, g, g->selector, g->nselector);
	sched_best_init(&best);
	for (uint32_t hi = 0; hi < f->nhosts; hi++) {
		struct sched_host_explain *ex = &e->hosts[hi];
		double score;
		int by = -1;

		memcpy(ex->host_id, f->cold[hi].h.id, sizeof(ex->host_id));
		e->placement.hosts_examined++;
		if (!sched_evaluate(&c, hi, &by, &score, ex)) {
			e->placement.rejected[by]++;
			continue;
		}
		e->placement.hosts_feasible++;
		sched_best_offer(&best, &c, hi, score);
	}
	if (best.host >= 0) {
		memcpy(e->chosen, f->cold[best.host].h.id, sizeof(e->chosen));
		memcpy(e->placement.host_id, e->chosen, sizeof(e->chosen));
		e->placement.score = best.score;
	}
	if (gi >= 0)
		sched_fleet_attach(f, (int32_t)gi, bound_to);
	*out = e;
	return 0;
}

void sched_explain_free(struct sched_explain *e)
{
	if (!e)
		return;
	free(e->hosts);
	free(e);
}

/* json-c's adders fail only on allocation failure; one check at the end. */
static bool add(json_object *obj, const char *key, json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

static bool push(json_object *arr, json_object *val)
{
	if (!val)
		return false;
	if (json_object_array_add(arr, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

static json_object *host_json(const struct sched_explain *e, const struct sched_host_explain *h)
{
	json_object *o = json_object_new_object();
	json_object *filters = json_object_new_array();
	json_object *scores = json_object_new_array();
	bool ok = o && filters && scores;

	if (!ok) {
		json_object_put(o);
		json_object_put(filters);
		json_object_put(scores);
		return NULL;
	}
	ok = add(o, "host", json_object_new_string(h->host_id)) &&
	     add(o, "feasible", json_object_new_boolean(h->feasible));
	for (unsigned int i = 0; ok && i < e->policy.nfilters; i++) {
		json_object *v = json_object_new_object();

		if (!v ||
		    !add(v, "name",
			 json_object_new_string(sched_filter_name(e->policy.filters[i]))) ||
		    !add(v, "pass", json_object_new_boolean(h->filters[i].pass)) ||
		    !add(v, "reason", json_object_new_string(h->filters[i].reason))) {
			json_object_put(v);
			ok = false;
		} else {
			ok = push(filters, v);
		}
	}
	for (unsigned int i = 0; ok && h->feasible && i < e->policy.nscorers; i++) {
		const struct sched_weighted *w = &e->policy.scorers[i];
		json_object *v = json_object_new_object();

		if (!v || !add(v, "name", json_object_new_string(sched_scorer_name(w->scorer))) ||
		    !add(v, "raw", json_object_new_double(h->raw[i])) ||
		    !add(v, "weight", json_object_new_double(w->weight)) ||
		    !add(v, "weighted", json_object_new_double(h->weighted[i]))) {
			json_object_put(v);
			ok = false;
		} else {
			ok = push(scores, v);
		}
	}
	ok = add(o, "filters", filters) && ok;
	ok = add(o, "scores", scores) && ok;
	ok = ok && add(o, "total", json_object_new_double(h->total));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int sched_explain_json(const struct sched_explain *e, json_object **out)
{
	json_object *o = json_object_new_object();
	json_object *rejected = json_object_new_object();
	json_object *hosts = json_object_new_array();
	char policy[1024];
	bool ok = o && rejected && hosts;

	if (!ok) {
		json_object_put(o);
		json_object_put(rejected);
		json_object_put(hosts);
		return -ENOMEM;
	}
	sched_policy_format(&e->policy, policy, sizeof(policy));
	for (unsigned int i = 0; ok && i < e->policy.nfilters; i++)
		ok = add(rejected, sched_filter_name(e->policy.filters[i]),
			 json_object_new_int64(e->placement.rejected[i]));
	for (unsigned int i = 0; ok && i < e->nhosts; i++)
		ok = push(hosts, host_json(e, &e->hosts[i]));
	ok = add(o, "rejected", rejected) && ok;
	ok = add(o, "hosts", hosts) && ok;
	ok = ok && add(o, "guest", json_object_new_string(e->guest_id)) &&
	     add(o, "policy", json_object_new_string(policy)) &&
	     add(o, "hosts_total", json_object_new_int64(e->placement.hosts_total)) &&
	     add(o, "hosts_feasible", json_object_new_int64(e->placement.hosts_feasible));
	if (ok) {
		if (e->chosen[0])
			ok = add(o, "chosen", json_object_new_string(e->chosen));
		else
			ok = !json_object_object_add(o, "chosen", NULL);
	}
	if (!ok) {
		json_object_put(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}
