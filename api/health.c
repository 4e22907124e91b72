/* SPDX-License-Identifier: MIT */
/*
 * /healthz (the process answers), /readyz (the store answers, and which part
 * of the controllers this one plays: leader or follower; 503 when unready),
 * version.
 */
#include "api/handlers.h"
#include "controller/controller.h"
#include "store/store.h"

int api_h_healthz(struct api_req *rq, struct api_resp *rs)
{
	json_object *o = json_object_new_object();

	(void)rq;
	json_object_object_add(o, "status", json_object_new_string("ok"));
	return api_json(rs, 200, o);
}

int api_h_readyz(struct api_req *rq, struct api_resp *rs)
{
	struct controller *c = rq->srv->cfg.controller;
	enum controller_role role = controller_role(c);
	char leader[STORE_NAME_MAX];
	struct pvm_err err = {0};
	json_object *o;
	int64_t seq;

	if (atomic_load(&rq->srv->stopping))
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL, "the server is stopping");
	if (store_events_last_seq(rq->srv->cfg.store, &seq, &err) < 0)
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL,
				   "the store does not answer: %s", err.msg);
	if (role == CONTROLLER_UNREADY)
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL,
				   "the controller has not reached the store yet");
	controller_leader(c, leader, sizeof(leader));
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ready"));
	json_object_object_add(o, "role", json_object_new_string(controller_role_name(role)));
	json_object_object_add(o, "leader", json_object_new_string(leader));
	json_object_object_add(o, "last_event_seq", json_object_new_int64(seq));
	json_object_object_add(o, "fleet_seq", json_object_new_int64(controller_seq(c)));
	return api_json(rs, 200, o);
}

int api_h_version(struct api_req *rq, struct api_resp *rs)
{
	json_object *o = json_object_new_object();

	(void)rq;
	json_object_object_add(o, "name", json_object_new_string("pvmd"));
	json_object_object_add(o, "version", json_object_new_string(PVM_VERSION));
	json_object_object_add(o, "api", json_object_new_string("v1"));
	json_object_object_add(o, "hook_abi", json_object_new_int(1));
	json_object_object_add(o, "schema", json_object_new_int(STORE_SCHEMA_VERSION));
	return api_json(rs, 200, o);
}
