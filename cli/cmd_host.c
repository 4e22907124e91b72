/* SPDX-License-Identifier: MIT */
/* pvmctl host list|show|cordon|uncordon|drain|rm */
#include <string.h>

#include "cli/internal.h"

/* clang-format off */
static const struct cli_col list_cols[] = {
	{ "ID", "id", true, NULL },
	{ "NAME", "name", false, NULL },
	{ "STATE", "state", false, NULL },
	{ "CORDONED", "cordoned", false, NULL },
	{ "DRAINING", "draining", false, NULL },
	{ "CPUS", "cpus", false, NULL },
	{ "FREE CPUS", "free.cpus", false, NULL },
	{ "MEMORY MIB", "memory_mib", false, NULL },
	{ "FREE MIB", "free.memory_mib", false, NULL },
	{ "PLATFORMS", "capabilities.platforms", true, NULL },
	{ "ADDRESS", "address", true, NULL },
	{ "HEARTBEAT", "last_heartbeat_ms", true, cli_fmt_age_ms },
	{ "LABELS", "labels", true, cli_fmt_keys },
	{ "AGE", "created_ms", false, cli_fmt_age_ms },
};
/* clang-format on */

/* clang-format off */
static const struct cli_col show_cols[] = {
	{ "ID", "id", false, NULL },
	{ "Name", "name", false, NULL },
	{ "Address", "address", false, NULL },
	{ "State", "state", false, NULL },
	{ "Cordoned", "cordoned", false, NULL },
	{ "Draining", "draining", false, NULL },
	{ "CPUs", "cpus", false, NULL },
	{ "Free CPUs", "free.cpus", false, NULL },
	{ "Memory MiB", "memory_mib", false, NULL },
	{ "Free memory MiB", "free.memory_mib", false, NULL },
	{ "Disk GiB", "disk_gib", false, NULL },
	{ "Free disk GiB", "free.disk_gib", false, NULL },
	{ "Labels", "labels", false, cli_fmt_keys },
	{ "Platforms", "capabilities.platforms", false, NULL },
	{ "Capabilities", "capabilities", true, NULL },
	{ "Last heartbeat", "last_heartbeat_ms", false, cli_fmt_time_ms },
	{ "Generation", "generation", true, NULL },
	{ "Created", "created_ms", false, cli_fmt_time_ms },
	{ "Updated", "updated_ms", true, cli_fmt_time_ms },
};
/* clang-format on */

static int host_list(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *doc;
	int ret;

	(void)a;
	ret = cli_list_all(ctx, "/v1/hosts", &doc);
	if (ret == CLI_EXIT_OK)
		ret = cli_print_list(ctx, doc, list_cols, PVM_ARRAY_SIZE(list_cols));
	json_object_put(doc);
	return ret;
}

static int host_show(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *obj;
	int ret = cli_lookup(ctx, "/v1/hosts", a->pos[0], &obj, NULL, 0);

	if (ret == CLI_EXIT_OK)
		ret = cli_print_object(ctx, obj, show_cols, PVM_ARRAY_SIZE(show_cols));
	json_object_put(obj);
	return ret;
}

/* PATCH one or two booleans and report what the host now is. */
static int host_patch(struct cli_ctx *ctx, const char *ref, const char *key, bool v,
		      const char *done)
{
	json_object *body = json_object_new_object(), *res = NULL;
	int ret;

	json_object_object_add(body, key, json_object_new_boolean(v));
	if (!v && strcmp(key, "cordoned") == 0)
		json_object_object_add(body, "draining", json_object_new_boolean(false));
	ret = cli_change(ctx, "/v1/hosts", ref, "PATCH", body, &res);
	if (ret == CLI_EXIT_OK) {
		if (ctx->output == CLI_OUT_JSON)
			cli_print_json(res);
		else
			printf("host %s %s\n", ref, done);
	}
	json_object_put(res);
	json_object_put(body);
	return ret;
}

static int host_cordon(struct cli_ctx *ctx, struct cli_args *a)
{
	return host_patch(ctx, a->pos[0], "cordoned", true, "cordoned");
}

static int host_uncordon(struct cli_ctx *ctx, struct cli_args *a)
{
	return host_patch(ctx, a->pos[0], "cordoned", false, "uncordoned");
}

static int host_drain(struct cli_ctx *ctx, struct cli_args *a)
{
	return host_patch(ctx, a->pos[0], "draining", true, "draining");
}

static int host_rm(struct cli_ctx *ctx, struct cli_args *a)
{
	int ret = cli_change(ctx, "/v1/hosts", a->pos[0], "DELETE", NULL, NULL);

	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		printf("host %s removed\n", a->pos[0]);
	return ret;
}

static const struct cli_cmd host_sub[] = {
    {"list", "List hosts", .fn = host_list},
    {"show", "Show one host (by id or name)", "HOST", .fn = host_show, .min_pos = 1, .max_pos = 1},
    {"cordon", "Stop placing guests on a host", "HOST", .fn = host_cordon, .min_pos = 1,
     .max_pos = 1},
    {"uncordon", "Allow placements on a host again (ends a drain)", "HOST", .fn = host_uncordon,
     .min_pos = 1, .max_pos = 1},
    {"drain", "Cordon a host and move its guests elsewhere", "HOST", .fn = host_drain, .min_pos = 1,
     .max_pos = 1},
    {"rm", "Remove a host (it must have no guests)", "HOST", .fn = host_rm, .min_pos = 1,
     .max_pos = 1},
};

const struct cli_cmd cli_cmd_host = {
    .name = "host",
    .summary = "Hosts: list, show, cordon, uncordon, drain, rm",
    .sub = host_sub,
    .nsub = PVM_ARRAY_SIZE(host_sub),
};
