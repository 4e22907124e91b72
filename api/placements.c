/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/placements/explain: a dry run of the scheduler for a spec, with
 * every host's filter verdicts and scores; ?policy= overrides the policy.
 * POST /v1/rebalance: the rebalancer's moves, carried out with "apply".
 */
#include <errno.h>
#include <stdlib.h>

#include "api/handlers.h"
#include "controller/controller.h"
#include "schedulers/sched.h"
#include "store/store.h"

int api_h_explain(struct api_req *rq, struct api_resp *rs)
{
	const char *override = api_query(rq, "policy");
	struct sched_explain *ex = NULL;
	struct sched_guest sg;
	struct pvm_err err = {0};
	json_object *spec, *ans = NULL;
	int ret;

	if (api_body_parse(rq, rs, api_spec_fields, api_nspec_fields, &spec) < 0)
		return 0;
	if (api_spec_check(spec, &err) < 0 ||
	    controller_sched_guest("explain", spec, &sg, &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	ret = controller_explain(rq->srv->cfg.controller, &sg, override, &ex, &err);
	if (ret == 0)
		ret = sched_explain_json(ex, &ans);
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

int api_h_rebalance(struct api_req *rq, struct api_resp *rs)
{
	struct sched_move *moves = NULL;
	struct pvm_err err = {0};
	json_object *body, *ans, *arr;
	double before = 0, after = 0;
	unsigned n = 0, applied = 0;
	int64_t max = 10;
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
		return api_problem(rs, 500, API_P_INTERNAL, NULL, "out of memory");
	ret = controller_rebalance(rq->srv->cfg.controller, (unsigned)max, apply, moves, &n,
				   &applied, &before, &after, &err);
	if (ret == -EAGAIN) {
		free(moves);
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL, "%s", err.msg);
	}
	arr = json_object_new_array();
	for (unsigned i = 0; ret == 0 && i < n; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "guest_id", json_object_new_string(moves[i].guest_id));
		json_object_object_add(m, "from", json_object_new_string(moves[i].from));
		json_object_object_add(m, "to", json_object_new_string(moves[i].to));
		json_object_object_add(m, "delta", json_object_new_double(moves[i].delta));
		json_object_object_add(m, "plan", json_object_new_int64(moves[i].plan));
		json_object_object_add(m, "plan_delta",
				       json_object_new_double(moves[i].plan_delta));
		if (apply)
			json_object_object_add(m, "applied", json_object_new_boolean(i < applied));
		json_object_array_add(arr, m);
	}
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
