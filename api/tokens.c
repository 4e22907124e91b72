/* SPDX-License-Identifier: MIT */
/*
 * /v1/tokens: admin creates (the secret is shown once, optionally with a
 * lifetime, ttl_s), lists, reads and revokes. expires_at is RFC 3339, null
 * for a token that never expires.
 */
#include <errno.h>
#include <string.h>

#include "api/handlers.h"
#include "store/store.h"

/* Nomad-style bounds on a token's lifetime: a minute to ten years. */
#define TOKEN_TTL_MIN_S 60
#define TOKEN_TTL_MAX_S (3650ll * 86400)

static json_object *token_json(const struct store_token *t)
{
	json_object *o = json_object_new_object();
	char when[API_RFC3339_MAX];

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "role", json_object_new_string(store_token_role_name(t->role)));
	json_object_object_add(o, "host_id",
			       t->host_id[0] ? json_object_new_string(t->host_id) : NULL);
	json_object_object_add(o, "revoked", json_object_new_boolean(t->revoked));
	json_object_object_add(o, "generation", json_object_new_int64(t->generation));
	json_object_object_add(o, "created_ms", json_object_new_int64(t->created_ms));
	json_object_object_add(
	    o, "expires_at",
	    t->expires_ms ? json_object_new_string(api_rfc3339(t->expires_ms, when, sizeof(when)))
			  : NULL);
	return o;
}

const struct pvm_json_field api_token_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_NAME_MAX - 1},
    {.name = "role",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = 16,
     .name_of = store_token_role_nth},
    {.name = "ttl_s",
     .type = PVM_JSON_INT,
     .min = TOKEN_TTL_MIN_S,
     .max = TOKEN_TTL_MAX_S,
     .doc = "lifetime in seconds (60 s to 10 years); absent: never expires. An expired token "
	    "gets 401 with problem type token-expired"},
};
const size_t api_ntoken_fields = PVM_ARRAY_SIZE(api_token_fields);

int api_h_token_create(struct api_req *rq, struct api_resp *rs)
{
	struct store_token t = {0};
	struct pvm_err err = {0};
	char secret[STORE_SECRET_MAX];
	json_object *body, *ans;
	int64_t ttl_s = 0;
	const char *s;
	int ret;

	if (api_body_parse(rq, rs, api_token_fields, PVM_ARRAY_SIZE(api_token_fields), &body) < 0)
		return 0;
	pvm_json_get_str(body, "role", &s);
	store_token_role_parse(s, &t.role); /* the table allows only these names */
	pvm_json_get_str(body, "name", &s);
	snprintf(t.name, sizeof(t.name), "%s", s);
	if (pvm_json_get_int(body, "ttl_s", &ttl_s) == 0)
		t.expires_ms = (int64_t)(pvm_wall_ns() / 1000000ull) + ttl_s * 1000;
	ret = store_token_create(rq->srv->cfg.store, &t, secret, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out;
	}
	ans = token_json(&t);
	json_object_object_add(ans, "secret", json_object_new_string(secret));
	explicit_bzero(secret, sizeof(secret));
	snprintf(rs->location, sizeof(rs->location), "/v1/tokens/%s", t.id);
	api_set_etag(rs, t.generation);
	api_json(rs, 201, ans);
out:
	json_object_put(body);
	return 0;
}

int api_h_token_list(struct api_req *rq, struct api_resp *rs)
{
	struct store_list_opts opts = {0};
	struct store_token_list l = {0};
	struct pvm_err err = {0};
	json_object *items;
	int ret;

	if (api_page_opts(rq, rs, &opts) < 0)
		return 0;
	ret = store_token_list(rq->srv->cfg.store, &opts, &l, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array_ext((int)l.n);
	for (size_t i = 0; i < l.n; i++)
		json_object_array_add(items, token_json(&l.items[i]));
	api_json(rs, 200, api_page_answer(items, l.next));
	store_token_list_free(&l);
	return 0;
}

int api_h_token_get(struct api_req *rq, struct api_resp *rs)
{
	struct store_token t;
	struct pvm_err err = {0};
	int ret;

	ret = store_token_get(rq->srv->cfg.store, rq->params[0], &t, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	api_set_etag(rs, t.generation);
	api_json(rs, 200, token_json(&t));
	return 0;
}

int api_h_token_delete(struct api_req *rq, struct api_resp *rs)
{
	struct pvm_err err = {0};
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	ret = store_token_revoke(rq->srv->cfg.store, rq->params[0], gen, &err);
	api_tokcache_forget(rq->srv, rq->params[0]);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	rs->status = 204;
	return 0;
}
