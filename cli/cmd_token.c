/* SPDX-License-Identifier: MIT */
/* pvmctl token create|list|revoke (admin only on the server side) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/internal.h"

/* The server's bounds on ttl_s, checked here too so --ttl errors name --ttl. */
#define TTL_MIN_S 60
#define TTL_MAX_S (3650ll * 86400)

/*
 * expires_at (RFC 3339 UTC from the server) as a second-precision time,
 * "never" for null, and " (expired)" once past, so a list shows at a glance
 * which tokens no longer work.
 */
static const char *fmt_expiry(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *v = cli_field(obj, path);
	const char *s, *rest;
	struct tm tm = {0};
	time_t t;

	if (!v)
		return "never";
	s = json_object_get_string(v);
	rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!rest || (t = timegm(&tm)) == (time_t)-1)
		return cli_field_text(obj, path, buf, len);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((int64_t)t * 1000 <= (int64_t)(pvm_wall_ns() / 1000000))
		snprintf(buf + strlen(buf), len - strlen(buf), " (expired)");
	return buf;
}

/* clang-format off */
static const struct cli_col list_cols[] = {
	{ "ID", "id", false, NULL },
	{ "NAME", "name", false, NULL },
	{ "ROLE", "role", false, NULL },
	{ "HOST", "host_id", false, NULL },
	{ "REVOKED", "revoked", false, NULL },
	{ "REVOKED AT", "revoked_ms", true, cli_fmt_time_ms },
	{ "EXPIRES", "expires_at", false, fmt_expiry },
	{ "AGE", "created_ms", false, cli_fmt_age_ms },
};
/* clang-format on */

/* clang-format off */
static const struct cli_opt create_opts[] = {
	{ "role", 'r', "ROLE", "admin, operator, reader or host (required)" },
	{ "ttl", 0, "DURATION", "lifetime: 90s, 15m, 12h or 30d (60s to 3650d); default never" },
};
/* clang-format on */

/* "90s", "15m", "12h", "30d": a whole number and one unit, as Nomad's TTLs. */
static int parse_ttl(const char *s, int64_t *out)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	size_t n = strlen(s);
	char num[24];
	int64_t v;
	int ret;

	if (n < 2 || n > sizeof(num) || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	for (size_t i = 0; i < PVM_ARRAY_SIZE(units); i++) {
		if (s[n - 1] != units[i].unit)
			continue;
		ret = pvm_parse_int(num, 1, TTL_MAX_S / units[i].secs, &v);
		if (ret < 0)
			return ret;
		*out = v * units[i].secs;
		return *out < TTL_MIN_S ? -ERANGE : 0;
	}
	return -EINVAL;
}

static int token_create(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *body;
	struct cli_resp resp = {0};
	char buf[256];
	int64_t ttl = 0;
	int ret;

	if (!cli_arg(a, "role"))
		return cli_usage_error(ctx, "--role is required (admin, operator, reader or host)");
	if (cli_arg(a, "ttl")) {
		ret = parse_ttl(cli_arg(a, "ttl"), &ttl);
		if (ret == -ERANGE)
			return cli_usage_error(ctx, "--ttl %s: must be between 60s and 3650d",
					       cli_arg(a, "ttl"));
		if (ret < 0)
			return cli_usage_error(
			    ctx, "--ttl %s: expected a whole number and a unit: 90s, 15m, 12h, 30d",
			    cli_arg(a, "ttl"));
	}
	body = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string(a->pos[0]));
	json_object_object_add(body, "role", json_object_new_string(cli_arg(a, "role")));
	if (ttl)
		json_object_object_add(body, "ttl_s", json_object_new_int64(ttl));
	ret = cli_request(ctx, "POST", "/v1/tokens", body, NULL, &resp);
	if (ret == CLI_EXIT_OK) {
		if (ctx->output == CLI_OUT_JSON) {
			cli_print_json(resp.json);
		} else {
			printf("token %s created (%s)\n", a->pos[0],
			       cli_field_text(resp.json, "id", buf, sizeof(buf)));
			printf("secret: %s\n",
			       cli_field_text(resp.json, "secret", buf, sizeof(buf)));
			printf("expires: %s\n",
			       fmt_expiry(resp.json, "expires_at", buf, sizeof(buf)));
			fprintf(stderr, "The secret is shown only this once; store it now.\n");
		}
	}
	cli_resp_free(&resp);
	json_object_put(body);
	return ret;
}

static int token_list(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *doc;
	int ret;

	(void)a;
	ret = cli_list_all(ctx, "/v1/tokens", &doc);
	if (ret == CLI_EXIT_OK)
		ret = cli_print_list(ctx, doc, list_cols, PVM_ARRAY_SIZE(list_cols));
	json_object_put(doc);
	return ret;
}

/* Revoking by name: the name is found in the list. */
static int token_id(struct cli_ctx *ctx, const char *ref, char *id, size_t len)
{
	json_object *doc, *items;
	int ret = cli_list_all(ctx, "/v1/tokens", &doc);

	if (ret != CLI_EXIT_OK)
		return ret;
	ret = CLI_EXIT_NOT_FOUND;
	items = cli_field(doc, "items");
	for (size_t i = 0; items && i < json_object_array_length(items); i++) {
		json_object *t = json_object_array_get_idx(items, i);
		char name[128], tid[64];

		cli_field_text(t, "id", tid, sizeof(tid));
		if (strcmp(tid, ref) == 0 ||
		    strcmp(cli_field_text(t, "name", name, sizeof(name)), ref) == 0) {
			snprintf(id, len, "%s", tid);
			ret = CLI_EXIT_OK;
			break;
		}
	}
	json_object_put(doc);
	if (ret != CLI_EXIT_OK)
		cli_fail(ctx, ret, "%s: no such token id or name", ref);
	return ret;
}

static int token_revoke(struct cli_ctx *ctx, struct cli_args *a)
{
	struct cli_resp resp = {0};
	char id[64], *esc, *url = NULL;
	int ret = token_id(ctx, a->pos[0], id, sizeof(id));

	if (ret != CLI_EXIT_OK)
		return ret;
	esc = cli_escape(ctx, id);
	if (!esc || asprintf(&url, "/v1/tokens/%s", esc) < 0) {
		free(esc);
		return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
	}
	free(esc);
	ret = cli_request(ctx, "DELETE", url, NULL, NULL, &resp);
	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		printf("token %s revoked\n", a->pos[0]);
	cli_resp_free(&resp);
	free(url);
	return ret;
}

static const struct cli_cmd token_sub[] = {
    {"create", "Create a token (the secret is shown once)", "NAME", create_opts,
     PVM_ARRAY_SIZE(create_opts), .fn = token_create, .min_pos = 1, .max_pos = 1},
    {"list", "List tokens", .fn = token_list},
    {"revoke", "Revoke a token (by id or name)", "TOKEN", .fn = token_revoke, .min_pos = 1,
     .max_pos = 1},
};

const struct cli_cmd cli_cmd_token = {
    .name = "token",
    .summary = "API tokens: create, list, revoke",
    .sub = token_sub,
    .nsub = PVM_ARRAY_SIZE(token_sub),
};
