/* SPDX-License-Identifier: MIT */
/* pvmctl guest list|show|start|stop|rm|stats|explain (create: guest_create.c) */
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

/* clang-format off */
static const struct cli_col list_cols[] = {
	{ "ID", "id", true, NULL },
	{ "NAME", "name", false, NULL },
	{ "KIND", "kind", false, NULL },
	{ "DESIRED", "desired_state", false, NULL },
	{ "STATE", "observed_state", false, NULL },
	{ "HOST", "host_name", false, NULL },
	{ "HOST ID", "host_id", true, NULL },
	{ "PLATFORM", "platform", true, NULL },
	{ "VCPUS", "vcpus", false, NULL },
	{ "MEMORY MIB", "memory_mib", false, NULL },
	{ "IMAGE", "spec.image", true, NULL },
	{ "REQUIRED HOOKS", "spec.pv.hooks_required", true, NULL },
	{ "LABELS", "spec.labels", true, cli_fmt_keys },
	{ "AGE", "created_ms", false, cli_fmt_age_ms },
};
/* clang-format on */

/* Negotiated capabilities as "console accepted v1, block refused (why)". */
static const char *fmt_caps(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *caps = cli_field(obj, path);
	size_t off = 0;

	buf[0] = '\0';
	if (!caps || !json_object_is_type(caps, json_type_array))
		return cli_field_text(obj, path, buf, len);
	for (size_t i = 0; i < json_object_array_length(caps); i++) {
		json_object *c = json_object_array_get_idx(caps, i);
		char nb[64], sb[32], ab[16], wb[256];
		const char *name = cli_field_text(c, "name", nb, sizeof(nb));
		const char *state = cli_field_text(c, "state", sb, sizeof(sb));
		const char *abi = cli_field_text(c, "abi_version", ab, sizeof(ab));
		const char *why = cli_field_text(c, "reason", wb, sizeof(wb));
		bool has_abi = strcmp(abi, "0") != 0 && strcmp(abi, "-") != 0;
		bool has_why = strcmp(why, "-") != 0;
		int w;

		w = snprintf(buf + off, len - off, "%s%s %s%s%s%s%s%s", off ? ", " : "", name,
			     state, has_abi ? " v" : "", has_abi ? abi : "", has_why ? " (" : "",
			     has_why ? why : "", has_why ? ")" : "");
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

/* The guest agent as "connected: agent 1.0 on pvm-microguest, report #3 (stale)". */
static const char *fmt_agent(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *a = cli_field(obj, path);
	char st[32], ver[32], os[64], no[24];
	json_object *stale;

	if (!a || !json_object_is_type(a, json_type_object))
		return "-";
	stale = cli_field(a, "stale");
	snprintf(buf, len, "%s: agent %s on %s, report #%s%s",
		 cli_field_text(a, "state", st, sizeof(st)),
		 cli_field_text(a, "hello.agent_version", ver, sizeof(ver)),
		 cli_field_text(a, "hello.os", os, sizeof(os)),
		 cli_field_text(a, "report.report_no", no, sizeof(no)),
		 stale && json_object_get_boolean(stale) ? " (stale)" : "");
	return buf;
}

/* A list the agent reported (KVM pv features, virtio devices): "none" when empty. */
static const char *fmt_list_or_none(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *f = cli_field(obj, path);

	if (f && json_object_is_type(f, json_type_array) && json_object_array_length(f) == 0)
		return "none";
	return cli_field_text(obj, path, buf, len);
}

/* The platform its host runs it on, and the spec's requirement: "process
 * (required)", "kvm", "- (requires kvm)" before its host reported. */
static const char *fmt_platform(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *want = cli_field(obj, "spec.platform");
	char tmp[32];
	const char *on = cli_field_text(obj, path, tmp, sizeof(tmp));

	if (!want || !json_object_is_type(want, json_type_string))
		snprintf(buf, len, "%s", on);
	else if (strcmp(on, json_object_get_string(want)) == 0)
		snprintf(buf, len, "%s (required)", on);
	else
		snprintf(buf, len, "%s (requires %s)", on, json_object_get_string(want));
	return buf;
}

/* clang-format off */
static const struct cli_col show_cols[] = {
	{ "ID", "id", false, NULL },
	{ "Name", "name", false, NULL },
	{ "Kind", "kind", false, NULL },
	{ "Image", "spec.image", false, NULL },
	{ "Desired state", "desired_state", false, NULL },
	{ "Observed state", "observed_state", false, NULL },
	{ "Host", "host_name", false, NULL },
	{ "Host ID", "host_id", false, NULL },
	{ "Platform", "platform", false, fmt_platform },
	{ "vCPUs", "vcpus", false, NULL },
	{ "Memory MiB", "memory_mib", false, NULL },
	{ "Disk GiB", "disk_gib", false, NULL },
	{ "Restart policy", "restart_policy", false, NULL },
	{ "Required hooks", "spec.pv.hooks_required", false, NULL },
	{ "Preferred hooks", "spec.pv.hooks_preferred", false, NULL },
	{ "Labels", "spec.labels", false, cli_fmt_keys },
	{ "Negotiated hooks", "capabilities", false, fmt_caps },
	{ "vCPU exits", "exits.total", false, NULL },
	{ "Guest agent", "agent", false, fmt_agent },
	{ "Clocksource", "agent.negotiation.kvm.clocksource", false, NULL },
	{ "KVM pv features", "agent.negotiation.kvm.feature_names", false, fmt_list_or_none },
	{ "Virtio devices", "agent.negotiation.virtio_devices", false, fmt_list_or_none },
	{ "Spec", "spec", true, NULL },
	{ "Generation", "generation", true, NULL },
	{ "Created", "created_ms", false, cli_fmt_time_ms },
	{ "Updated", "updated_ms", true, cli_fmt_time_ms },
};
/* clang-format on */

static int guest_list(struct cli_ctx *ctx, struct cli_args *a)
{
	const char *host = cli_arg(a, "host");
	json_object *doc = NULL, *h = NULL;
	char *path = NULL, *esc = NULL;
	int ret;

	if (host) {
		/* the API filters by id; a name is resolved first */
		ret = cli_lookup(ctx, "/v1/hosts", host, &h, NULL, 0);
		if (ret != CLI_EXIT_OK)
			return ret;
		esc = cli_escape(ctx, json_object_get_string(cli_field(h, "id")));
		json_object_put(h);
		if (!esc || asprintf(&path, "/v1/guests?host_id=%s", esc) < 0) {
			free(esc);
			return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
		}
		free(esc);
	}
	ret = cli_list_all(ctx, path ? path : "/v1/guests", &doc);
	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		cli_host_names(ctx, cli_field(doc, "items"), "host_id", "host_name");
	if (ret == CLI_EXIT_OK)
		ret = cli_print_list(ctx, doc, list_cols, PVM_ARRAY_SIZE(list_cols));
	json_object_put(doc);
	free(path);
	return ret;
}

static int guest_show(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *obj;
	int ret = cli_lookup(ctx, "/v1/guests", a->pos[0], &obj, NULL, 0);

	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		cli_host_names(ctx, obj, "host_id", "host_name");
	if (ret == CLI_EXIT_OK)
		ret = cli_print_object(ctx, obj, show_cols, PVM_ARRAY_SIZE(show_cols));
	json_object_put(obj);
	return ret;
}

static int set_desired(struct cli_ctx *ctx, const char *ref, const char *state)
{
	json_object *body = json_object_new_object(), *res = NULL;
	int ret;

	json_object_object_add(body, "desired_state", json_object_new_string(state));
	ret = cli_change(ctx, "/v1/guests", ref, "PATCH", body, &res);
	if (ret == CLI_EXIT_OK) {
		if (ctx->output == CLI_OUT_JSON)
			cli_print_json(res);
		else
			printf("guest %s: desired state %s\n", ref, state);
	}
	json_object_put(res);
	json_object_put(body);
	return ret;
}

static int guest_start(struct cli_ctx *ctx, struct cli_args *a)
{
	return set_desired(ctx, a->pos[0], "running");
}

static int guest_stop(struct cli_ctx *ctx, struct cli_args *a)
{
	return set_desired(ctx, a->pos[0], "stopped");
}

static int guest_rm(struct cli_ctx *ctx, struct cli_args *a)
{
	int ret = cli_change(ctx, "/v1/guests", a->pos[0], "DELETE", NULL, NULL);

	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		printf("guest %s removed\n", a->pos[0]);
	return ret;
}

/* The first of several spellings a field may have; NULL when none. */
static json_object *first_field(json_object *obj, const char *const *names)
{
	for (; *names; names++) {
		json_object *v = cli_field(obj, *names);

		if (v)
			return v;
	}
	return NULL;
}

/* clang-format off */
static const struct cli_col stat_cols[] = {
	{ "HOOK", "hook", false, NULL },
	{ "CALLS", "calls", false, NULL },
	{ "DOORBELLS", "doorbells", false, NULL },
	{ "BYTES", "bytes", false, cli_fmt_bytes },
	{ "ERRORS", "errors", false, NULL },
	{ "EXITS AVOIDED", "exits_avoided", false, NULL },
	{ "UPDATED", "updated_ms", true, cli_fmt_age_ms },
};
/* clang-format on */

static int guest_stats(struct cli_ctx *ctx, struct cli_args *a)
{
	static const char *const names[] = {"hook_stats", "stats.hooks", "stats", NULL};
	json_object *obj = NULL, *st, *items = NULL;
	int ret = cli_lookup(ctx, "/v1/guests", a->pos[0], &obj, NULL, 0);

	if (ret != CLI_EXIT_OK)
		return ret;
	st = first_field(obj, names);
	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(st ? st : json_object_new_array());
		goto out;
	}
	/* Either an array of per-hook records or an object keyed by hook. */
	items = json_object_new_array();
	if (st && json_object_is_type(st, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(st); i++)
			json_object_array_add(items,
					      json_object_get(json_object_array_get_idx(st, i)));
	} else if (st && json_object_is_type(st, json_type_object)) {
		json_object_object_foreach(st, hook, rec)
		{
			json_object *row = json_object_new_object();

			json_object_object_add(row, "hook", json_object_new_string(hook));
			if (json_object_is_type(rec, json_type_object)) {
				json_object_object_foreach(rec, k, v)
				    json_object_object_add(row, k, json_object_get(v));
			}
			json_object_array_add(items, row);
		}
	}
	if (json_object_array_length(items) == 0)
		printf("guest %s has reported no hook statistics yet\n", a->pos[0]);
	else
		ret = cli_print_rows(ctx, items, stat_cols, PVM_ARRAY_SIZE(stat_cols));
out:
	json_object_put(items);
	json_object_put(obj);
	return ret;
}

/* Reasons of the filters that failed, "; "-separated, into buf. */
static const char *fmt_reasons(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *f = cli_field(obj, path);
	size_t off = 0;

	buf[0] = '\0';
	if (!f || !json_object_is_type(f, json_type_array))
		return cli_field_text(obj, "reason", buf, len);
	for (size_t i = 0; i < json_object_array_length(f); i++) {
		json_object *v = json_object_array_get_idx(f, i);
		json_object *pass = cli_field(v, "pass");
		char name[64], why[256];
		int w;

		if (!pass)
			pass = cli_field(v, "passed");
		if (pass && json_object_get_boolean(pass))
			continue;
		w = snprintf(buf + off, len - off, "%s%s: %s", off ? "; " : "",
			     cli_field_text(v, "name", name, sizeof(name)),
			     cli_field_text(v, "reason", why, sizeof(why)));
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

/* Scorers as name=weighted score, into buf. */
static const char *fmt_scores(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *s = cli_field(obj, path);
	size_t off = 0;

	buf[0] = '\0';
	if (!s || !json_object_is_type(s, json_type_array))
		return cli_field_text(obj, path, buf, len);
	for (size_t i = 0; i < json_object_array_length(s); i++) {
		json_object *v = json_object_array_get_idx(s, i);
		json_object *w = cli_field(v, "weighted");
		char name[64];
		int n;

		n = snprintf(buf + off, len - off, "%s%s=%.3g", off ? "," : "",
			     cli_field_text(v, "name", name, sizeof(name)),
			     w ? json_object_get_double(w) : 0.0);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf[0] ? buf : "-";
}

/* clang-format off */
static const struct cli_col explain_cols[] = {
	{ "HOST", "host_name", false, NULL },
	{ "HOST ID", "host", true, NULL },
	{ "FITS", "feasible", false, NULL },
	{ "SCORE", "total", false, NULL },
	{ "SCORES", "scores", true, fmt_scores },
	{ "REASON", "filters", false, fmt_reasons },
};
/* clang-format on */

static int guest_explain(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *spec = NULL, *guest = NULL, *hosts;
	struct cli_resp resp = {0};
	int ret;

	if (a->npos) {
		ret = cli_lookup(ctx, "/v1/guests", a->pos[0], &guest, NULL, 0);
		if (ret != CLI_EXIT_OK)
			return ret;
		spec = json_object_get(cli_field(guest, "spec"));
		if (!spec) {
			ret = cli_fail(ctx, CLI_EXIT_SERVER, "guest %s has no spec", a->pos[0]);
			goto out;
		}
	} else {
		ret = cli_guest_spec(ctx, a, &spec);
		if (ret != CLI_EXIT_OK)
			goto out;
		if (!cli_field(spec, "name"))
			json_object_object_add(spec, "name", json_object_new_string("explain"));
	}
	ret = cli_request(ctx, "POST", "/v1/placements/explain", spec, NULL, &resp);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(resp.json);
		if (!cli_field(resp.json, "chosen"))
			ret = CLI_EXIT_NO_HOST;
		goto out;
	}
	hosts = cli_field(resp.json, "hosts");
	cli_host_names(ctx, hosts, "host", "host_name");
	ret = cli_print_rows(ctx, hosts, explain_cols, PVM_ARRAY_SIZE(explain_cols));
	if (ret == CLI_EXIT_OK) {
		char buf[128];
		const char *chosen = cli_field_text(resp.json, "chosen", buf, sizeof(buf));

		if (strcmp(chosen, "-") == 0) {
			printf("chosen: none\n");
			ret = cli_fail(ctx, CLI_EXIT_NO_HOST, "no host can take this guest");
		} else {
			printf("chosen: %s\n", chosen);
		}
	}
out:
	cli_resp_free(&resp);
	json_object_put(spec);
	json_object_put(guest);
	return ret;
}

/* clang-format off */
static const struct cli_opt list_opts[] = {
	{ "host", 0, "HOST", "only guests on this host (id or name)" },
};
/* clang-format on */

static const struct cli_cmd guest_sub[] = {
    {"create", "Create a guest; --wait follows it until it runs", "[NAME]", cli_guest_spec_opts,
     CLI_GUEST_SPEC_NOPTS, cli_guest_create_opts, CLI_GUEST_CREATE_NOPTS, cli_guest_create,
     .max_pos = 1},
    {"list", "List guests", NULL, list_opts, PVM_ARRAY_SIZE(list_opts), .fn = guest_list},
    {"show", "Show one guest (by id or name)", "GUEST", .fn = guest_show, .min_pos = 1,
     .max_pos = 1},
    {"start", "Set a guest's desired state to running", "GUEST", .fn = guest_start, .min_pos = 1,
     .max_pos = 1},
    {"stop", "Set a guest's desired state to stopped", "GUEST", .fn = guest_stop, .min_pos = 1,
     .max_pos = 1},
    {"rm", "Delete a guest", "GUEST", .fn = guest_rm, .min_pos = 1, .max_pos = 1},
    {"stats", "A guest's latest hook statistics", "GUEST", .fn = guest_stats, .min_pos = 1,
     .max_pos = 1},
    {"explain", "Where would this guest (or spec) go, and why", "[GUEST]", cli_guest_spec_opts,
     CLI_GUEST_SPEC_NOPTS, .fn = guest_explain, .max_pos = 1},
};

const struct cli_cmd cli_cmd_guest = {
    .name = "guest",
    .summary = "Guests: create, list, show, start, stop, rm, stats, explain",
    .sub = guest_sub,
    .nsub = PVM_ARRAY_SIZE(guest_sub),
};
