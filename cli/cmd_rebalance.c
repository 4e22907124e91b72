/* SPDX-License-Identifier: MIT */
/* pvmctl rebalance [--apply]: the rebalancer's proposed moves, applied on request. */
#include "cli/internal.h"

/* clang-format off */
static const struct cli_col cols[] = {
	{ "GUEST", "guest_id", false, NULL },
	{ "FROM", "from_name", false, NULL },
	{ "TO", "to_name", false, NULL },
	{ "SCORE DELTA", "delta", false, NULL },
	{ "PLAN", "plan", false, NULL },
};
/* clang-format on */

/* clang-format off */
static const struct cli_opt opts[] = {
	{ "apply", 0, NULL, "carry the moves out (default: only show them)" },
	{ "max-moves", 0, "N", "propose at most N moves" },
};
/* clang-format on */

static int rebalance(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *body = json_object_new_object(), *moves;
	bool apply = cli_flag(a, "apply");
	struct cli_resp resp = {0};
	int64_t max;
	int ret;

	json_object_object_add(body, "apply", json_object_new_boolean(apply));
	ret = cli_arg_int(ctx, a, "max-moves", 1, 10000, &max);
	if (ret > 0)
		goto out;
	if (ret == 0)
		json_object_object_add(body, "max_moves", json_object_new_int64(max));
	ret = cli_request(ctx, "POST", "/v1/rebalance", body, NULL, &resp);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(resp.json);
		goto out;
	}
	moves = cli_field(resp.json, "moves");
	if (!moves || json_object_array_length(moves) == 0) {
		printf("no move would improve the cluster score\n");
		goto out;
	}
	cli_host_names(ctx, moves, "from", "from_name");
	cli_host_names(ctx, moves, "to", "to_name");
	ret = cli_print_rows(ctx, moves, cols, PVM_ARRAY_SIZE(cols));
	if (ret == CLI_EXIT_OK) {
		char b[32], c[32];

		printf("cluster score %s -> %s; %s\n",
		       cli_field_text(resp.json, "score_before", b, sizeof(b)),
		       cli_field_text(resp.json, "score_after", c, sizeof(c)),
		       apply ? "moves applied" : "not applied (use --apply)");
	}
out:
	cli_resp_free(&resp);
	json_object_put(body);
	return ret;
}

const struct cli_cmd cli_cmd_rebalance = {
    .name = "rebalance",
    .summary = "Propose guest moves that lower the cluster score; --apply carries them out",
    .opts = opts,
    .nopts = PVM_ARRAY_SIZE(opts),
    .fn = rebalance,
};
