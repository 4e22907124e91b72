/* SPDX-License-Identifier: MIT */
/* pvmctl image create|list|show|rm */
#include "cli/internal.h"

/* clang-format off */
static const struct cli_col list_cols[] = {
	{ "ID", "id", true, NULL },
	{ "NAME", "name", false, NULL },
	{ "FORMAT", "format", false, NULL },
	{ "SIZE", "size_bytes", false, cli_fmt_bytes },
	{ "SOURCE", "source", false, NULL },
	{ "SHA256", "sha256", true, NULL },
	{ "AGE", "created_ms", false, cli_fmt_age_ms },
};
/* clang-format on */

/* clang-format off */
static const struct cli_col show_cols[] = {
	{ "ID", "id", false, NULL },
	{ "Name", "name", false, NULL },
	{ "Format", "format", false, NULL },
	{ "Source", "source", false, NULL },
	{ "Size", "size_bytes", false, cli_fmt_bytes },
	{ "SHA-256", "sha256", false, NULL },
	{ "Generation", "generation", true, NULL },
	{ "Created", "created_ms", false, cli_fmt_time_ms },
};
/* clang-format on */

/* clang-format off */
static const struct cli_opt create_opts[] = {
	{ "format", 0, "FORMAT", "elf, raw, qcow2, kernel, ..." },
	{ "source", 0, "PATH|URL", "where hosts find the image" },
	{ "size", 0, "BYTES", "size in bytes" },
	{ "sha256", 0, "HEX", "SHA-256 of the image" },
};
/* clang-format on */

static int image_create(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *body = json_object_new_object();
	const char *keys[] = {"format", "source", "sha256"};
	struct cli_resp resp = {0};
	int64_t size;
	int ret;

	json_object_object_add(body, "name", json_object_new_string(a->pos[0]));
	for (size_t i = 0; i < PVM_ARRAY_SIZE(keys); i++)
		if (cli_arg(a, keys[i]))
			json_object_object_add(body, keys[i],
					       json_object_new_string(cli_arg(a, keys[i])));
	ret = cli_arg_int(ctx, a, "size", 0, INT64_MAX, &size);
	if (ret > 0)
		goto out;
	if (ret == 0)
		json_object_object_add(body, "size_bytes", json_object_new_int64(size));
	ret = cli_request(ctx, "POST", "/v1/images", body, NULL, &resp);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(resp.json);
	} else {
		char id[64];

		printf("image %s created (%s)\n", a->pos[0],
		       cli_field_text(resp.json, "id", id, sizeof(id)));
	}
out:
	cli_resp_free(&resp);
	json_object_put(body);
	return ret;
}

static int image_list(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *doc;
	int ret;

	(void)a;
	ret = cli_list_all(ctx, "/v1/images", &doc);
	if (ret == CLI_EXIT_OK)
		ret = cli_print_list(ctx, doc, list_cols, PVM_ARRAY_SIZE(list_cols));
	json_object_put(doc);
	return ret;
}

static int image_show(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *obj;
	int ret = cli_lookup(ctx, "/v1/images", a->pos[0], &obj, NULL, 0);

	if (ret == CLI_EXIT_OK)
		ret = cli_print_object(ctx, obj, show_cols, PVM_ARRAY_SIZE(show_cols));
	json_object_put(obj);
	return ret;
}

static int image_rm(struct cli_ctx *ctx, struct cli_args *a)
{
	int ret = cli_change(ctx, "/v1/images", a->pos[0], "DELETE", NULL, NULL);

	if (ret == CLI_EXIT_OK && ctx->output != CLI_OUT_JSON)
		printf("image %s removed\n", a->pos[0]);
	return ret;
}

static const struct cli_cmd image_sub[] = {
    {"create", "Register an image", "NAME", create_opts, PVM_ARRAY_SIZE(create_opts),
     .fn = image_create, .min_pos = 1, .max_pos = 1},
    {"list", "List images", .fn = image_list},
    {"show", "Show one image (by id or name)", "IMAGE", .fn = image_show, .min_pos = 1,
     .max_pos = 1},
    {"rm", "Delete an image", "IMAGE", .fn = image_rm, .min_pos = 1, .max_pos = 1},
};

const struct cli_cmd cli_cmd_image = {
    .name = "image",
    .summary = "Images: create, list, show, rm",
    .sub = image_sub,
    .nsub = PVM_ARRAY_SIZE(image_sub),
};
