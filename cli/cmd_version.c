/* SPDX-License-Identifier: MIT */
/* pvmctl version: this client's version and the server's. */
#include "cli/internal.h"

static int version(struct cli_ctx *ctx, struct cli_args *a)
{
	struct cli_resp resp = {0};
	json_object *doc;
	char buf[128];
	int ret;

	(void)a;
	if (ctx->output != CLI_OUT_JSON) {
		printf("client: pvmctl %s\n", PVM_VERSION);
		fflush(stdout);
	}
	ret = cli_request(ctx, "GET", "/v1/version", NULL, NULL, &resp);
	if (ret == CLI_EXIT_OK && ctx->output == CLI_OUT_JSON) {
		doc = json_object_new_object();
		json_object_object_add(doc, "client", json_object_new_object());
		json_object_object_add(json_object_object_get(doc, "client"), "version",
				       json_object_new_string(PVM_VERSION));
		json_object_object_add(doc, "server", json_object_get(resp.json));
		cli_print_json(doc);
		json_object_put(doc);
	} else if (ret == CLI_EXIT_OK) {
		printf("server: %s %s (%s)\n",
		       cli_field(resp.json, "name")
			   ? json_object_get_string(cli_field(resp.json, "name"))
			   : "pvmd",
		       cli_field_text(resp.json, "version", buf, sizeof(buf)), cli_addr(ctx));
	}
	cli_resp_free(&resp);
	return ret;
}

const struct cli_cmd cli_cmd_version = {
    .name = "version",
    .summary = "Show the client's and the server's versions",
    .fn = version,
};
