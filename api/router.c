/* SPDX-License-Identifier: MIT */
/*
 * The route table: method, path pattern, handler and the roles allowed.
 * Dispatch, authorisation and the OpenAPI document all read this one table.
 */
#include <string.h>

#include "api/handlers.h"

#define R API_ROLES_READ
#define W API_ROLES_WRITE
#define A API_ROLE_ADMIN
#define H API_ROLE_HOST

const struct api_route api_routes[] = {
    {.method = "GET",
     .pattern = "/healthz",
     .fn = api_h_healthz,
     .roles = API_ROLE_PUBLIC,
     .summary = "Liveness",
     .tag = "system",
     .ok_schema = "Health",
     .ok_status = 200},
    {.method = "GET",
     .pattern = "/readyz",
     .fn = api_h_readyz,
     .roles = API_ROLES_ANY,
     .summary = "Readiness",
     .tag = "system",
     .ok_schema = "Ready",
     .ok_status = 200},
    {.method = "GET",
     .pattern = "/metrics",
     .fn = api_h_metrics,
     .roles = R,
     .summary = "Prometheus metrics (text 0.0.4)",
     .tag = "system",
     .ok_schema = "text/plain; version=0.0.4",
     .ok_status = 200},
    {.method = "GET",
     .pattern = "/v1/openapi.json",
     .fn = api_h_openapi,
     .roles = API_ROLES_ANY,
     .summary = "This document",
     .tag = "system",
     .ok_schema = "application/json",
     .ok_status = 200},
    {.method = "GET",
     .pattern = "/v1/version",
     .fn = api_h_version,
     .roles = API_ROLES_ANY,
     .summary = "Server version",
     .tag = "system",
     .ok_schema = "Version",
     .ok_status = 200},

    {.method = "POST",
     .pattern = "/v1/tokens",
     .fn = api_h_token_create,
     .roles = A,
     .summary = "Create a token (secret shown once)",
     .tag = "tokens",
     .body_schema = "TokenCreate",
     .ok_schema = "Token",
     .ok_status = 201},
    {.method = "GET",
     .pattern = "/v1/tokens",
     .fn = api_h_token_list,
     .roles = A,
     .summary = "List tokens",
     .tag = "tokens",
     .ok_schema = "Token",
     .ok_status = 200,
     .has_query_paging = true},
    {.method = "GET",
     .pattern = "/v1/tokens/{id}",
     .fn = api_h_token_get,
     .roles = A,
     .summary = "Get a token (never its secret)",
     .tag = "tokens",
     .ok_schema = "Token",
     .ok_status = 200},
    {.method = "DELETE",
     .pattern = "/v1/tokens/{id}",
     .fn = api_h_token_delete,
     .roles = A,
     .summary = "Revoke a token",
     .tag = "tokens",
     .ok_status = 204},

    {.method = "POST",
     .pattern = "/v1/hosts",
     .fn = api_h_host_register,
     .roles = A | H,
     .summary = "Register a host",
     .tag = "hosts",
     .body_schema = "HostRegister",
     .ok_schema = "Host",
     .ok_status = 201},
    {.method = "GET",
     .pattern = "/v1/hosts",
     .fn = api_h_host_list,
     .roles = R,
     .summary = "List hosts",
     .tag = "hosts",
     .ok_schema = "Host",
     .ok_status = 200,
     .has_query_paging = true},
    {.method = "GET",
     .pattern = "/v1/hosts/{id}",
     .fn = api_h_host_get,
     .roles = R | H,
     .summary = "Get a host",
     .tag = "hosts",
     .ok_schema = "Host",
     .host_own = true,
     .ok_status = 200},
    {.method = "PATCH",
     .pattern = "/v1/hosts/{id}",
     .fn = api_h_host_patch,
     .roles = W,
     .summary = "Cordon, drain or relabel a host",
     .tag = "hosts",
     .body_schema = "HostPatch",
     .ok_schema = "Host",
     .ok_status = 200},
    {.method = "DELETE",
     .pattern = "/v1/hosts/{id}",
     .fn = api_h_host_delete,
     .roles = W,
     .summary = "Remove a host",
     .tag = "hosts",
     .ok_status = 204},
    {.method = "POST",
     .pattern = "/v1/hosts/{id}/heartbeat",
     .fn = api_h_host_heartbeat,
     .roles = A | H,
     .summary = "Heartbeat with capabilities",
     .tag = "hosts",
     .body_schema = "Heartbeat",
     .ok_schema = "HeartbeatAck",
     .host_own = true,
     .ok_status = 200},
    {.method = "GET",
     .pattern = "/v1/hosts/{id}/assignments",
     .fn = api_h_host_assignments,
     .roles = R | H,
     .summary = "Long-poll the guests assigned to a host",
     .tag = "hosts",
     .ok_schema = "Assignments",
     .host_own = true,
     .ok_status = 200,
     .has_query_wait = true},

    {.method = "POST",
     .pattern = "/v1/guests",
     .fn = api_h_guest_create,
     .roles = W,
     .summary = "Create a guest",
     .tag = "guests",
     .body_schema = "GuestSpec",
     .ok_schema = "Guest",
     .ok_status = 201},
    {.method = "GET",
     .pattern = "/v1/guests",
     .fn = api_h_guest_list,
     .roles = R,
     .summary = "List guests",
     .tag = "guests",
     .ok_schema = "Guest",
     .ok_status = 200,
     .has_query_paging = true},
    {.method = "GET",
     .pattern = "/v1/guests/{id}",
     .fn = api_h_guest_get,
     .roles = R | H,
     .summary = "Get a guest",
     .tag = "guests",
     .ok_schema = "GuestDetail",
     .host_own = true,
     .ok_status = 200},
    {.method = "PATCH",
     .pattern = "/v1/guests/{id}",
     .fn = api_h_guest_patch,
     .roles = W,
     .summary = "Set the desired state",
     .tag = "guests",
     .body_schema = "GuestPatch",
     .ok_schema = "GuestDetail",
     .ok_status = 200},
    {.method = "DELETE",
     .pattern = "/v1/guests/{id}",
     .fn = api_h_guest_delete,
     .roles = W,
     .summary = "Delete a guest",
     .tag = "guests",
     .ok_status = 204},
    {.method = "POST",
     .pattern = "/v1/guests/{id}/reports",
     .fn = api_h_guest_report,
     .roles = H,
     .summary = "Report observed state and hook statistics (host role, own guests)",
     .tag = "guests",
     .body_schema = "GuestReport",
     .ok_schema = "ReportAck",
     .host_own = true,
     .ok_status = 200},

    {.method = "POST",
     .pattern = "/v1/images",
     .fn = api_h_image_create,
     .roles = W,
     .summary = "Register an image",
     .tag = "images",
     .body_schema = "Image",
     .ok_schema = "Image",
     .ok_status = 201},
    {.method = "GET",
     .pattern = "/v1/images",
     .fn = api_h_image_list,
     .roles = R | H,
     .summary = "List images",
     .tag = "images",
     .ok_schema = "Image",
     .ok_status = 200,
     .has_query_paging = true},
    {.method = "GET",
     .pattern = "/v1/images/{id}",
     .fn = api_h_image_get,
     .roles = R | H,
     .summary = "Get an image",
     .tag = "images",
     .ok_schema = "Image",
     .ok_status = 200},
    {.method = "DELETE",
     .pattern = "/v1/images/{id}",
     .fn = api_h_image_delete,
     .roles = W,
     .summary = "Delete an image",
     .tag = "images",
     .ok_status = 204},

    {.method = "GET",
     .pattern = "/v1/events",
     .fn = api_h_events,
     .roles = R,
     .summary = "Events: long-poll, or SSE",
     .tag = "events",
     .ok_schema = "Events",
     .ok_status = 200,
     .has_query_wait = true},
    {.method = "POST",
     .pattern = "/v1/placements/explain",
     .fn = api_h_explain,
     .roles = R,
     .summary = "Dry-run placement: every host's filter verdicts and scores",
     .tag = "placements",
     .body_schema = "GuestSpec",
     .ok_schema = "Explain",
     .ok_status = 200},
    {.method = "POST",
     .pattern = "/v1/rebalance",
     .fn = api_h_rebalance,
     .roles = R,
     .summary = "Moves that lower the cluster score (as hbal); \"apply\" carries them out "
		"(operator)",
     .tag = "placements",
     .body_schema = "Rebalance",
     .ok_schema = "RebalanceResult",
     .ok_status = 200},
};

const size_t api_nroutes = PVM_ARRAY_SIZE(api_routes);

/* Matches one pattern against path; captures {x} segments into rq. */
static bool match(const char *pat, const char *path, struct api_req *rq)
{
	unsigned np = 0;

	while (*pat && *path) {
		if (*pat == '{') {
			const char *end = strchr(path, '/');
			size_t len = end ? (size_t)(end - path) : strlen(path);

			if (len == 0 || np >= API_MAX_PARAMS || len >= sizeof(rq->param_buf[0]))
				return false;
			if (rq) {
				memcpy(rq->param_buf[np], path, len);
				rq->param_buf[np][len] = '\0';
				rq->params[np] = rq->param_buf[np];
			}
			np++;
			path += len;
			pat = strchr(pat, '}');
			if (!pat)
				return false;
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	return *pat == '\0' && *path == '\0';
}

/* HEAD is served wherever GET is (RFC 9110 9.3.2): the same answer, no body. */
static bool method_is(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

const struct api_route *api_route_match(const char *method, const char *path, struct api_req *rq,
					char *allow, size_t allow_len)
{
	size_t n = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < api_nroutes; i++) {
		const char *m = api_routes[i].method;

		if (!match(api_routes[i].pattern, path, NULL))
			continue;
		if (method_is(m, method)) {
			match(api_routes[i].pattern, path, rq);
			return &api_routes[i];
		}
		n += (size_t)snprintf(allow + n, n < allow_len ? allow_len - n : 0, "%s%s%s",
				      n ? ", " : "", m, strcmp(m, "GET") == 0 ? ", HEAD" : "");
	}
	if (n >= allow_len)
		allow[allow_len - 1] = '\0';
	return NULL;
}
