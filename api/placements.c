/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/placements/explain: a dry run of the scheduler for a spec, with
 * every host's filter verdicts and scores; ?policy= overrides the policy.
 * POST /v1/rebalance: the rebalancer's moves, carried out with "apply".
 */
#include <errno.h>
#include <stdlib.h>

#include "api/handlers.h"
#include "schedulers/sched.h"
#include "store/store.h"

int api_h_explain(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	const char *override = api_query(rq, "policy");
	struct sched_explain *ex = NULL;
	struct sched_policy pol;
	struct sched_guest sg;
	struct pvm_err err = {0};
	json_object *spec, *ans = NULL;
	int ret;

	if (api_body_parse(rq, rs, api_spec_fields, api_nspec_fields, &spec) < 0)
		return 0;
	if (api_spec_check(spec, &err) < 0 || api_sched_guest("explain", spec, &sg, &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	pthread_mutex_lock(&srv->place_lock);
	pol = *sched_fleet_policy(srv->fleet);
	if (override && sched_policy_parse(override, &pol, &err) < 0) {
		pthread_mutex_unlock(&srv->place_lock);
		api_problem(rs, 400, API_P_INVALID, "?policy", "%s", err.msg);
		goto out;
	}
	ret = sched_fleet_explain(srv->fleet, &sg, &pol, &ex, &err);
	if (ret == 0)
		ret = sched_explain_json(ex, &ans);
	pthread_mutex_unlock(&srv->place_lock);
	sched_explain_free(ex);
	if (ret < 0) {
		api_problem(rs, 400, API_P_INVALID, err.field[0] ? err.field : NULL, "%s", err.msg);
		goto out;
	}
	api_json(rs, 200, ans);
out:
	json_object_put(spec);
	return 0;
}

const struct pvm_json_field api_rebalance_fields[] = {
    {.name = "apply", .type = PVM_JSON_BOOL},
    {.name = "max_moves", .type = PVM_JSON_INT, .min = 1, .max = 10000},
};
const size_t api_nrebalance_fields = PVM_ARRAY_SIZE(api_rebalance_fields);

/* Carries out moves in the store, in order, and mirrors each into the fleet. */
static int apply_moves(struct api_server *srv, const struct sched_move *moves, unsigned n,
		       json_object *out, struct pvm_err *err)
{
	for (unsigned i = 0; i < n; i++) {
		struct store_guest g;
		json_object *why = json_object_new_object();
		char *text;
		int ret;

		json_object_object_add(why, "rebalance_delta",
				       json_object_new_double(moves[i].delta));
		text = api_json_dup(why);
		json_object_put(why);
		ret = store_guest_bind(srv->cfg.store, moves[i].guest_id, 0, moves[i].to, text, &g,
				       err);
		free(text);
		if (ret < 0)
			return ret;
		api_fleet_bind(srv, &g);
		store_guest_free(&g);
		json_object_object_add(json_object_array_get_idx(out, i), "applied",
				       json_object_new_boolean(true));
	}
	return 0;
}

int api_h_rebalance(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	struct sched_move *moves = NULL;
	struct pvm_err err = {0};
	json_object *body, *ans, *arr;
	double before = 0, after = 0;
	int64_t max = 10;
	unsigned n = 0;
	bool apply = false;
	int ret;

	if (api_body_parse(rq, rs, api_rebalance_fields, api_nrebalance_fields, &body) < 0)
		return 0;
	pvm_json_get_bool(body, "apply", &apply);
	pvm_json_get_int(body, "max_moves", &max);
	json_object_put(body);
	if (apply && !(rq->role & API_ROLES_WRITE))
		return api_problem(rs, 403, API_P_FORBIDDEN, "/apply",
				   "role %s may propose moves but not apply them",
				   api_role_name(rq->role));
	moves = calloc((size_t)max, sizeof(*moves));
	if (!moves)
		return -ENOMEM;
	pthread_mutex_lock(&srv->place_lock);
	ret = sched_fleet_rebalance(srv->fleet, NULL, (unsigned)max, false, moves, &n, &before,
				    &after, &err);
	arr = json_object_new_array();
	for (unsigned i = 0; ret == 0 && i < n; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "guest_id", json_object_new_string(moves[i].guest_id));
		json_object_object_add(m, "from", json_object_new_string(moves[i].from));
		json_object_object_add(m, "to", json_object_new_string(moves[i].to));
		json_object_object_add(m, "delta", json_object_new_double(moves[i].delta));
		json_object_array_add(arr, m);
	}
	if (ret == 0 && apply)
		ret = apply_moves(srv, moves, n, arr, &err);
	pthread_mutex_unlock(&srv->place_lock);
	free(moves);
	if (ret < 0) {
		json_object_put(arr);
		return api_store_problem(rs, ret, &err);
	}
	ans = json_object_new_object();
	json_object_object_add(ans, "moves", arr);
	json_object_object_add(ans, "score_before", json_object_new_double(before));
	json_object_object_add(ans, "score_after", json_object_new_double(after));
	json_object_object_add(ans, "applied", json_object_new_boolean(apply));
	return api_json(rs, 200, ans);
}
