/* SPDX-License-Identifier: MIT */
/*
 * Placement, by the leader only, under c->lock: the scheduler picks a host
 * from the fleet, and the store binds the guest in one transaction that
 * checks the guest's generation (so a guest another replica placed meanwhile
 * is not placed again) and the host's free capacity (so no host is
 * overcommitted, whatever the fleet believed). Only then does the fleet
 * take the binding: it never holds a figure the store did not keep.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/internal.h"

char *controller_json_reason(const char *key, const char *value)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, key, json_object_new_string(value));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* Small record of the decision, kept with the placement. */
static char *decision_json(const struct sched_placement *p, const char *policy)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "chosen",
			       p->host_id[0] ? json_object_new_string(p->host_id) : NULL);
	json_object_object_add(o, "score", json_object_new_double(p->score));
	json_object_object_add(o, "hosts_total", json_object_new_int((int)p->hosts_total));
	json_object_object_add(o, "hosts_examined", json_object_new_int((int)p->hosts_examined));
	json_object_object_add(o, "hosts_feasible", json_object_new_int((int)p->hosts_feasible));
	json_object_object_add(o, "policy", json_object_new_string(policy));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* The placement row and the event that wakes a waiting create, together. */
static int record_unschedulable(struct controller *c, const char *guest_id, const char *reason)
{
	struct store *st = c->cfg.store;
	struct store_placement pl = {0};
	struct pvm_err err = {0};
	int ret;

	pl.explanation = controller_json_reason("reason", reason);
	if (!pl.explanation)
		return -ENOMEM;
	snprintf(pl.guest_id, sizeof(pl.guest_id), "%s", guest_id);
	snprintf(pl.decision, sizeof(pl.decision), "unschedulable");
	ret = store_tx_begin(st, &err);
	if (ret == 0)
		ret = store_placement_add(st, &pl, &err);
	if (ret == 0)
		ret = store_event_append(st, CONTROLLER_EV_UNSCHEDULABLE, guest_id, pl.explanation,
					 NULL, &err);
	if (ret == 0)
		ret = store_tx_commit(st, &err);
	else
		store_tx_rollback(st);
	/* A guest deleted meanwhile has nobody waiting for it. */
	if (ret < 0 && ret != -ENOENT)
		pvm_log_warn("controller: recording %s unschedulable: %s", guest_id, err.msg);
	store_placement_free(&pl);
	return ret;
}

/* Counts how an attempt ended and passes its return on. */
static int counted(struct controller *c, enum controller_place_result r, int ret)
{
	atomic_fetch_add(&c->placements[r], 1);
	return ret;
}

int controller_place(struct controller *c, struct store_guest *g, bool record, struct pvm_err *err)
{
	struct sched_placement p = {0};
	struct store_guest bound;
	struct sched_guest sg;
	char policy[512];
	char *why = NULL;
	int ret;

	ret = controller_guest_of_row(g, &sg, err);
	if (ret == 0)
		controller_rates_get(c, g->id, &sg.stats);
	if (ret < 0)
		return counted(c, CONTROLLER_PLACE_ERROR, ret);
	sched_policy_format(sched_fleet_policy(c->fleet), policy, sizeof(policy));
	ret = sched_fleet_place(c->fleet, &sg, NULL, &p, err);
	if (ret == SCHED_ENOHOST) {
		if (record)
			record_unschedulable(c, g->id, err->msg);
		return counted(c, CONTROLLER_PLACE_UNSCHEDULABLE, -ENOSPC);
	}
	if (ret < 0)
		return counted(c, CONTROLLER_PLACE_ERROR, ret);
	why = decision_json(&p, policy);
	ret = store_guest_bind(c->cfg.store, g->id, g->generation, p.host_id, why, &bound, err);
	free(why);
	if (ret < 0)
		return counted(c,
			       ret == -ESTALE || ret == -ENOSPC ? CONTROLLER_PLACE_CONFLICT
								: CONTROLLER_PLACE_ERROR,
			       ret);
	store_guest_free(g);
	*g = bound;
	if (sched_fleet_bind(c->fleet, &sg, p.host_id, err) < 0)
		pvm_log_warn("controller: scheduler: bind %s: %s", g->id, err->msg);
	return counted(c, CONTROLLER_PLACE_BOUND, 0);
}

/* Places one guest that wants to run and has no host, as it is now. */
static void place_one(struct controller *c, const char *id, bool record)
{
	struct store_guest g;
	struct pvm_err err = {0};
	int ret;

	if (store_guest_get(c->cfg.store, id, &g, NULL) < 0)
		return;
	if (g.desired_state == STORE_DESIRED_RUNNING && !g.host_id[0]) {
		ret = controller_place(c, &g, record, &err);
		if (ret == 0)
			pvm_log_debug("controller: placed %s on %s", g.id, g.host_id);
		else if (ret != -ENOSPC && ret != -ESTALE)
			pvm_log_warn("controller: placing %s: %s", g.id, err.msg);
	}
	store_guest_free(&g);
}

void controller_place_fresh(struct controller *c)
{
	/* In creation order; each decision is recorded. */
	for (size_t i = 0; i < c->nfresh && controller_leading(c); i++)
		place_one(c, c->fresh[i], true);
	c->nfresh = 0;
}

static int place_unbound(struct controller *c, struct store_guest *g, void *arg)
{
	struct pvm_err err = {0};

	(void)arg;
	if (!controller_leading(c))
		return 1;
	if (g->desired_state == STORE_DESIRED_RUNNING && !g->host_id[0])
		controller_place(c, g, false, &err);
	return 0;
}

void controller_place_pending(struct controller *c)
{
	controller_each_guest(c, &(struct store_list_opts){.unbound = true}, place_unbound, NULL,
			      NULL);
}
