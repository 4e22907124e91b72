/* SPDX-License-Identifier: MIT */
/*
 * pvmctl guest create [--wait]: POST the spec with an Idempotency-Key, then
 * optionally follow the guest until it runs or fails, with a spinner on a
 * terminal and one line per state change otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

/* clang-format off */
const struct cli_opt cli_guest_create_opts[] = {
	{ "wait", 'w', NULL, "follow the guest until it runs or fails" },
	{ "wait-timeout", 0, "SECONDS", "give up waiting after this long (default 120)" },
};
/* clang-format on */

_Static_assert(PVM_ARRAY_SIZE(cli_guest_create_opts) == CLI_GUEST_CREATE_NOPTS, "create options");

#define POLL_NS 200000000ull

static const char *state_of(json_object *g, char *buf, size_t len)
{
	return cli_field_text(g, "observed_state", buf, len);
}

static int wait_running(struct cli_ctx *ctx, const char *id, const char *name, int64_t timeout_s,
			json_object **last)
{
	static const char spin[] = "|/-\\";
	uint64_t start = pvm_now_ns(), deadline = start + (uint64_t)timeout_s * 1000000000ull;
	char prev[64] = "", state[64], host[64];
	unsigned tick = 0;
	int ret;

	*last = NULL;
	for (;;) {
		json_object *g = NULL;

		ret = cli_lookup(ctx, "/v1/guests", id, &g, NULL, 0);
		if (ret != CLI_EXIT_OK)
			break;
		json_object_put(*last);
		*last = g;
		state_of(g, state, sizeof(state));
		/* -o json prints the last answer as is: no added names there */
		if (ctx->output != CLI_OUT_JSON)
			cli_host_names(ctx, g, "host_id", "host_name");
		cli_field_text(g, ctx->output != CLI_OUT_JSON ? "host_name" : "host_id", host,
			       sizeof(host));
		if (ctx->tty_err) {
			fprintf(stderr, "\r%c %s: %s%s%s (%llus)\033[K", spin[tick++ % 4], name,
				state, strcmp(host, "-") ? " on " : "",
				strcmp(host, "-") ? host : "",
				(unsigned long long)((pvm_now_ns() - start) / 1000000000ull));
		} else if (strcmp(prev, state) != 0) {
			fprintf(stderr, "guest %s: %s%s%s\n", name, state,
				strcmp(host, "-") ? " on " : "", strcmp(host, "-") ? host : "");
		}
		snprintf(prev, sizeof(prev), "%s", state);
		/* A short-lived guest may have run to its end between two polls. */
		if (strcmp(state, "running") == 0 || strcmp(state, "stopped") == 0 ||
		    strcmp(state, "failed") == 0)
			break;
		if (pvm_now_ns() >= deadline) {
			if (ctx->tty_err)
				fputc('\n', stderr);
			/* Still unplaced at the deadline: no host took it. */
			if (strcmp(state, "pending") == 0)
				return cli_fail(
				    ctx, CLI_EXIT_NO_HOST,
				    "guest %s is still pending after %llds: no host can "
				    "take it (see 'pvmctl guest explain %s')",
				    name, (long long)timeout_s, name);
			return cli_fail(ctx, CLI_EXIT_SERVER,
					"timed out after %llds waiting for guest %s (state %s)",
					(long long)timeout_s, name, state);
		}
		pvm_sleep_ns(POLL_NS);
	}
	if (ctx->tty_err)
		fputc('\n', stderr);
	if (ret == CLI_EXIT_OK && strcmp(state, "failed") == 0)
		ret = cli_fail(ctx, CLI_EXIT_SERVER, "guest %s failed", name);
	return ret;
}

/* "guest NAME created (ID)", and where it was placed, or that it is pending. */
static void print_created(struct cli_ctx *ctx, json_object *g, const char *name, const char *id)
{
	char host[128], state[64];

	cli_host_names(ctx, g, "host_id", "host_name");
	cli_field_text(g, "host_name", host, sizeof(host));
	state_of(g, state, sizeof(state));
	if (strcmp(state, "pending") != 0 && strcmp(host, "-") != 0)
		printf("guest %s created (%s), scheduled on %s\n", name, id, host);
	else
		printf("guest %s created (%s), %s\n", name, id, state);
}

int cli_guest_create(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *spec = NULL, *last = NULL;
	struct cli_resp resp = {0};
	char id[64], name[128], state[64];
	int64_t timeout_s = 120;
	int ret;

	ret = cli_arg_int(ctx, a, "wait-timeout", 1, 86400, &timeout_s);
	if (ret > 0)
		return ret;
	ret = cli_guest_spec(ctx, a, &spec);
	if (ret != CLI_EXIT_OK)
		return ret;
	if (a->npos)
		json_object_object_add(spec, "name", json_object_new_string(a->pos[0]));
	if (!cli_field(spec, "name")) {
		ret = cli_usage_error(ctx, "a guest needs a NAME");
		goto out;
	}
	ret = cli_request(ctx, "POST", "/v1/guests", spec, NULL, &resp);
	if (ret != CLI_EXIT_OK)
		goto out;
	cli_field_text(resp.json, "id", id, sizeof(id));
	cli_field_text(resp.json, "name", name, sizeof(name));
	if (ctx->output == CLI_OUT_JSON && !cli_flag(a, "wait"))
		cli_print_json(resp.json);
	if (ctx->output != CLI_OUT_JSON)
		print_created(ctx, resp.json, name, id);
	if (!cli_flag(a, "wait")) {
		char desired[32];

		if (strcmp(state_of(resp.json, state, sizeof(state)), "pending") == 0 &&
		    strcmp(cli_field_text(resp.json, "desired_state", desired, sizeof(desired)),
			   "running") == 0)
			ret = cli_fail(ctx, CLI_EXIT_NO_HOST,
				       "no host can take guest %s now; it stays pending (see "
				       "'pvmctl guest explain %s')",
				       name, name);
		goto out;
	}
	ret = wait_running(ctx, id, name, timeout_s, &last);
	if (ctx->output == CLI_OUT_JSON && last)
		cli_print_json(last);
	else if (ret == CLI_EXIT_OK)
		printf("guest %s %s on %s\n", name,
		       strcmp(state_of(last, state, sizeof(state)), "stopped") == 0
			   ? "ran and stopped"
			   : "running",
		       cli_field_text(last, "host_name", id, sizeof(id)));
out:
	json_object_put(last);
	cli_resp_free(&resp);
	json_object_put(spec);
	return ret;
}
