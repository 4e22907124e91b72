/* SPDX-License-Identifier: MIT */
/*
 * pvmctl's entry: finds the command in the tree, parses its options,
 * resolves endpoint, token and CA, and runs it with one HTTP handle.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/internal.h"

static const struct cli_cmd *const top[] = {
    &cli_cmd_host,   &cli_cmd_guest,	 &cli_cmd_image,   &cli_cmd_token,
    &cli_cmd_events, &cli_cmd_rebalance, &cli_cmd_version,
};

/* cmd NULL is the root, whose commands live in other files. */
static bool is_group(const struct cli_cmd *cmd)
{
	return !cmd || cmd->sub;
}

static const struct cli_cmd *find_sub(const struct cli_cmd *cmd, const char *name)
{
	if (!cmd) {
		for (size_t i = 0; i < PVM_ARRAY_SIZE(top); i++)
			if (strcmp(top[i]->name, name) == 0)
				return top[i];
		return NULL;
	}
	for (size_t i = 0; i < cmd->nsub; i++)
		if (strcmp(cmd->sub[i].name, name) == 0)
			return &cmd->sub[i];
	return NULL;
}

static void root_help(FILE *fp)
{
	fprintf(fp, "Usage: pvmctl COMMAND [OPTIONS]\n\n"
		    "Operate a pvm fleet through its controller's REST API.\n\nCommands:\n");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(top); i++)
		fprintf(fp, "  %-12s %s\n", top[i]->name, top[i]->summary);
	cli_help_globals(fp);
	fprintf(fp, "\nExit codes: 0 ok, 1 server error, 2 usage, 3 not found, 4 conflict,\n"
		    "5 unauthorised or forbidden, 6 unreachable, 7 no host can take the guest.\n"
		    "Run 'pvmctl help COMMAND' (or 'pvmctl COMMAND --help') for a command's\n"
		    "options; see pvmctl(1).\n");
}

/* Does a global option take the next word as its value? */
static bool global_takes_next(const char *arg)
{
	for (size_t i = 0; i < cli_nglobal_opts; i++) {
		const struct cli_opt *o = &cli_global_opts[i];

		if (!o->arg)
			continue;
		if (arg[1] == '-' && strcmp(arg + 2, o->name) == 0)
			return true;
		if (arg[1] != '-' && o->short_name && arg[1] == o->short_name && !arg[2])
			return true;
	}
	return false;
}

static int setup(struct cli_ctx *ctx, const struct cli_args *a)
{
	struct cli_flags flags = {
	    .addr = cli_arg(a, "addr"),
	    .token = cli_arg(a, "token"),
	    .cacert = cli_arg(a, "cacert"),
	    .config = cli_arg(a, "config"),
	};
	const char *out = cli_arg(a, "output");
	struct pvm_err err = {0};
	int64_t t = 30;
	int ret;

	if (!out || strcmp(out, "table") == 0)
		ctx->output = CLI_OUT_TABLE;
	else if (strcmp(out, "wide") == 0)
		ctx->output = CLI_OUT_WIDE;
	else if (strcmp(out, "json") == 0)
		ctx->output = CLI_OUT_JSON;
	else
		return cli_usage_error(ctx, "-o %s: the output format is table, wide or json", out);
	ret = cli_arg_int(ctx, a, "timeout", 1, 86400, &t);
	if (ret > 0)
		return ret;
	ctx->timeout_s = (long)t;
	ctx->color = cli_want_color(STDOUT_FILENO, ctx->envp, cli_flag(a, "no-color"));
	ctx->tty_err = isatty(STDERR_FILENO);
	ctx->verbose = cli_flag(a, "verbose");
	if (cli_settings_resolve(&ctx->set, &flags, ctx->envp, &err) < 0)
		return cli_fail(ctx, CLI_EXIT_USAGE, "%s", err.msg);
	if (ctx->set.warning[0])
		fprintf(stderr, "%s: warning: %s\n", ctx->prog, ctx->set.warning);
	return CLI_EXIT_OK;
}

int cli_main(int argc, char **argv, char *const *envp)
{
	struct cli_ctx ctx = {.envp = envp, .prog = "pvmctl"};
	const struct cli_cmd *cmd = NULL;
	struct cli_args args = {0};
	struct pvm_buf prog;
	char **rest;
	int nrest = 0, ret;
	bool help = false;

	pvm_buf_init(&prog);
	pvm_buf_printf(&prog, "pvmctl");
	rest = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*rest));
	if (!rest || prog.failed) {
		fprintf(stderr, "pvmctl: out of memory\n");
		ret = CLI_EXIT_SERVER;
		goto out;
	}
	/* Command words, wherever global options stand between them. */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		/* "pvmctl help [COMMAND...]" is "pvmctl [COMMAND...] --help" (as git's). */
		if (i == 1 && strcmp(arg, "help") == 0) {
			help = true;
			continue;
		}
		if (is_group(cmd) && arg[0] == '-' && arg[1]) {
			if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
				help = true;
			rest[nrest++] = argv[i];
			if (global_takes_next(arg) && i + 1 < argc)
				rest[nrest++] = argv[++i];
			continue;
		}
		if (is_group(cmd)) {
			const struct cli_cmd *next = find_sub(cmd, arg);

			if (!next) {
				fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n",
					prog.data, arg, prog.data);
				ret = CLI_EXIT_USAGE;
				goto out;
			}
			cmd = next;
			pvm_buf_printf(&prog, " %s", arg);
			continue;
		}
		rest[nrest++] = argv[i];
	}
	ctx.prog = prog.data;
	if (help && !is_group(cmd)) {
		cli_help(stdout, cmd, ctx.prog);
		ret = CLI_EXIT_OK;
		goto out;
	}
	if (is_group(cmd)) {
		if (cmd)
			cli_help(help ? stdout : stderr, cmd, ctx.prog);
		else
			root_help(help ? stdout : stderr);
		ret = help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		goto out;
	}
	ret = cli_args_parse(&args, cmd, nrest, rest, ctx.prog);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (cli_flag(&args, "help")) {
		cli_help(stdout, cmd, ctx.prog);
		goto out;
	}
	ret = setup(&ctx, &args);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(ctx.curl = curl_easy_init())) {
		ret = cli_fail(&ctx, CLI_EXIT_SERVER, "cannot initialise libcurl");
		goto out;
	}
	ret = cmd->fn(&ctx, &args);
	json_object_put(ctx.hosts);
	curl_easy_cleanup(ctx.curl);
	curl_global_cleanup();
out:
	cli_settings_free(&ctx.set);
	cli_args_free(&args);
	free(rest);
	pvm_buf_free(&prog);
	fflush(stdout);
	return ret;
}
