/* SPDX-License-Identifier: MIT */
/*
 * pvmctl events [--follow]: the event stream through the long-poll route
 * (GET /v1/events?since=SEQ&wait=S), resuming from the last sequence seen.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

#define FOLLOW_WAIT_S 25

/* clang-format off */
static const struct cli_col cols[] = {
	{ "SEQ", "seq", false, NULL },
	{ "TIME", "time_ms", false, cli_fmt_time_ms },
	{ "TYPE", "type", false, NULL },
	{ "SUBJECT", "subject", false, NULL },
	{ "PAYLOAD", "payload", true, NULL },
};
/* clang-format on */

/* clang-format off */
static const struct cli_opt opts[] = {
	{ "follow", 'f', NULL, "keep printing new events until interrupted" },
	{ "since", 0, "SEQ", "only events after this sequence number (default 0)" },
};
/* clang-format on */

/* One page after *since; moves *since past it. *page is its items (owned). */
static int fetch(struct cli_ctx *ctx, int64_t *since, long wait_s, json_object **page)
{
	struct cli_req opt = {.timeout_s = wait_s ? wait_s + ctx->timeout_s : 0};
	struct cli_resp resp;
	json_object *items, *last;
	char path[96];
	int ret;

	*page = NULL;
	snprintf(path, sizeof(path), "/v1/events?since=%" PRId64 "&wait=%ld", *since, wait_s);
	ret = cli_request(ctx, "GET", path, NULL, &opt, &resp);
	if (ret != CLI_EXIT_OK)
		goto out;
	items = cli_field(resp.json, "events");
	if (!items || !json_object_is_type(items, json_type_array)) {
		ret = cli_fail(ctx, CLI_EXIT_SERVER, "the server's events answer has no events");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *seq = cli_field(json_object_array_get_idx(items, i), "seq");

		if (seq && json_object_get_int64(seq) > *since)
			*since = json_object_get_int64(seq);
	}
	last = cli_field(resp.json, "last_seq");
	if (last && json_object_is_type(last, json_type_int) &&
	    json_object_get_int64(last) > *since)
		*since = json_object_get_int64(last);
	*page = json_object_get(items);
out:
	cli_resp_free(&resp);
	return ret;
}

static void print_follow(struct cli_ctx *ctx, json_object *items)
{
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *e = json_object_array_get_idx(items, i);
		char seq[32], t[64], type[64], subj[64], pl[512];

		if (ctx->output == CLI_OUT_JSON) {
			puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
			continue;
		}
		printf("%-8s %-20s %-18s %s", cli_field_text(e, "seq", seq, sizeof(seq)),
		       cli_fmt_time_ms(e, "time_ms", t, sizeof(t)),
		       cli_field_text(e, "type", type, sizeof(type)),
		       cli_field_text(e, "subject", subj, sizeof(subj)));
		if (ctx->output == CLI_OUT_WIDE)
			printf("  %s", cli_field_text(e, "payload", pl, sizeof(pl)));
		putchar('\n');
	}
	fflush(stdout);
}

static int events(struct cli_ctx *ctx, struct cli_args *a)
{
	json_object *all, *doc, *page;
	int64_t since = 0;
	int ret;

	ret = cli_arg_int(ctx, a, "since", 0, INT64_MAX, &since);
	if (ret > 0)
		return ret;
	if (cli_flag(a, "follow")) {
		if (ctx->output != CLI_OUT_JSON)
			printf("%-8s %-20s %-18s %s\n", "SEQ", "TIME", "TYPE", "SUBJECT");
		for (;;) {
			ret = fetch(ctx, &since, FOLLOW_WAIT_S, &page);
			if (ret != CLI_EXIT_OK)
				return ret;
			print_follow(ctx, page);
			json_object_put(page);
		}
	}
	/* Everything so far, page by page, as one list. */
	all = json_object_new_array();
	for (;;) {
		ret = fetch(ctx, &since, 0, &page);
		if (ret != CLI_EXIT_OK || json_object_array_length(page) == 0) {
			json_object_put(page);
			break;
		}
		for (size_t i = 0; i < json_object_array_length(page); i++)
			json_object_array_add(all,
					      json_object_get(json_object_array_get_idx(page, i)));
		json_object_put(page);
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "events", all);
	json_object_object_add(doc, "last_seq", json_object_new_int64(since));
	if (ret == CLI_EXIT_OK && ctx->output == CLI_OUT_JSON)
		cli_print_json(doc);
	else if (ret == CLI_EXIT_OK)
		ret = cli_print_rows(ctx, all, cols, PVM_ARRAY_SIZE(cols));
	json_object_put(doc);
	return ret;
}

const struct cli_cmd cli_cmd_events = {
    .name = "events",
    .summary = "Show events; --follow streams new ones",
    .opts = opts,
    .nopts = PVM_ARRAY_SIZE(opts),
    .fn = events,
};
