/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/placements/explain: a dry run of the scheduler for a spec, with
 * every host's filter verdicts and scores; ?policy= overrides the policy.
 */
#include <errno.h>

#include "api/handlers.h"
#include "schedulers/sched.h"

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
