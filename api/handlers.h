/* SPDX-License-Identifier: MIT */
/* Private to api/: one handler per route, grouped by resource file. */
#ifndef PVM_API_HANDLERS_H
#define PVM_API_HANDLERS_H

#include "api/internal.h"

int api_h_healthz(struct api_req *rq, struct api_resp *rs);
int api_h_readyz(struct api_req *rq, struct api_resp *rs);
int api_h_version(struct api_req *rq, struct api_resp *rs);
int api_h_openapi(struct api_req *rq, struct api_resp *rs);
int api_h_metrics(struct api_req *rq, struct api_resp *rs);

int api_h_token_create(struct api_req *rq, struct api_resp *rs);
int api_h_token_list(struct api_req *rq, struct api_resp *rs);
int api_h_token_get(struct api_req *rq, struct api_resp *rs);
int api_h_token_delete(struct api_req *rq, struct api_resp *rs);

int api_h_host_register(struct api_req *rq, struct api_resp *rs);
int api_h_host_list(struct api_req *rq, struct api_resp *rs);
int api_h_host_get(struct api_req *rq, struct api_resp *rs);
int api_h_host_heartbeat(struct api_req *rq, struct api_resp *rs);
int api_h_host_patch(struct api_req *rq, struct api_resp *rs);
int api_h_host_delete(struct api_req *rq, struct api_resp *rs);
int api_h_host_assignments(struct api_req *rq, struct api_resp *rs);

int api_h_guest_create(struct api_req *rq, struct api_resp *rs);
int api_h_guest_list(struct api_req *rq, struct api_resp *rs);
int api_h_guest_get(struct api_req *rq, struct api_resp *rs);
int api_h_guest_patch(struct api_req *rq, struct api_resp *rs);
int api_h_guest_delete(struct api_req *rq, struct api_resp *rs);
int api_h_guest_report(struct api_req *rq, struct api_resp *rs);

int api_h_image_create(struct api_req *rq, struct api_resp *rs);
int api_h_image_list(struct api_req *rq, struct api_resp *rs);
int api_h_image_get(struct api_req *rq, struct api_resp *rs);
int api_h_image_delete(struct api_req *rq, struct api_resp *rs);

int api_h_events(struct api_req *rq, struct api_resp *rs);
int api_h_explain(struct api_req *rq, struct api_resp *rs);
int api_h_rebalance(struct api_req *rq, struct api_resp *rs);

#endif /* PVM_API_HANDLERS_H */
