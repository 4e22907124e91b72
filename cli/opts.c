/* SPDX-License-Identifier: MIT */
/*
 * Option parsing for every command from one table per command, so --help is
 * generated from the same table the parser reads. Long options take
 * "--name value" or "--name=value"; short ones "-o value" or "-ovalue";
 * global options are accepted after the command words too; "--" ends options.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

/* clang-format off */
const struct cli_opt cli_global_opts[] = {
	{ "addr", 0, "URL[,URL...]",
	  "controller URL, or several tried in order (env PVM_ADDR; default " CLI_DEFAULT_ADDR ")" },
	{ "token", 0, "TOKEN", "bearer token (env PVM_TOKEN)" },
	{ "cacert", 0, "FILE", "CA bundle to verify the controller's TLS certificate (env PVM_CACERT)" },
	{ "config", 0, "FILE",
     "config file (default $XDG_CONFIG_HOME/pvm/config or ~/.config/pvm/config)" },
	{ "output", 'o', "FORMAT", "table (default), wide or json" },
	{ "timeout", 0, "SECONDS", "time for each request, failovers included (default 30)" },
	{ "no-color", 0, NULL, "never colour the output (also NO_COLOR=1)" },
	{ "verbose", 'v', NULL, "say on stderr which controller each request went to" },
	{ "help", 'h', NULL, "show this help" },
};
/* clang-format on */

const size_t cli_nglobal_opts = PVM_ARRAY_SIZE(cli_global_opts);

static int add_opts(struct cli_args *a, const struct cli_opt *opts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a->nopts == CLI_MAX_OPTS)
			return -E2BIG;
		a->opts[a->nopts++] = &opts[i];
	}
	return 0;
}

static ssize_t find_long(const struct cli_args *a, const char *name, size_t len)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (strlen(a->opts[i]->name) == len && strncmp(a->opts[i]->name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

static ssize_t find_short(const struct cli_args *a, char c)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i]->short_name == c)
			return (ssize_t)i;
	return -1;
}

static int push(const char ***arr, size_t *n, const char *v)
{
	const char **p = realloc(*arr, (*n + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	p[(*n)++] = v;
	*arr = p;
	return 0;
}

static int bad(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return CLI_EXIT_USAGE;
}

int cli_args_parse(struct cli_args *a, const struct cli_cmd *cmd, int argc, char **argv,
		   const char *prog)
{
	bool opts_done = false;

	memset(a, 0, sizeof(*a));
	if (add_opts(a, cmd->opts, cmd->nopts) < 0 || add_opts(a, cmd->more, cmd->nmore) < 0 ||
	    add_opts(a, cli_global_opts, cli_nglobal_opts) < 0)
		return bad(prog, "too many options (a bug)");
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		ssize_t k;

		if (opts_done || arg[0] != '-' || arg[1] == '\0') {
			if (push(&a->pos, &a->npos, arg) < 0)
				return bad(prog, "out of memory");
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (arg[1] == '-') {
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

			k = find_long(a, arg + 2, len);
			if (k < 0)
				return bad(prog, "unknown option --%.*s", (int)len, arg + 2);
			if (eq && !a->opts[k]->arg)
				return bad(prog, "option --%s takes no value", a->opts[k]->name);
			val = eq ? eq + 1 : NULL;
		} else {
			k = find_short(a, arg[1]);
			if (k < 0)
				return bad(prog, "unknown option -%c", arg[1]);
			if (arg[2] && !a->opts[k]->arg)
				return bad(prog, "option -%c takes no value", arg[1]);
			val = arg[2] ? arg + 2 : NULL;
		}
		if (!a->opts[k]->arg) {
			val = "true";
		} else if (!val) {
			if (i + 1 >= argc)
				return bad(prog, "option --%s needs a value (%s)", a->opts[k]->name,
					   a->opts[k]->arg);
			val = argv[++i];
		}
		if (push(&a->vals[k], &a->count[k], val) < 0)
			return bad(prog, "out of memory");
	}
	if (cli_flag(a, "help"))
		return 0;
	if (a->npos < cmd->min_pos)
		return bad(prog, "missing argument: %s", cmd->usage ? cmd->usage : "");
	if (a->npos > cmd->max_pos)
		return bad(prog, "unexpected argument '%s'", a->pos[cmd->max_pos]);
	return 0;
}

void cli_args_free(struct cli_args *a)
{
	for (size_t i = 0; i < CLI_MAX_OPTS; i++)
		free(a->vals[i]);
	free(a->pos);
	memset(a, 0, sizeof(*a));
}

static ssize_t opt_index(const struct cli_args *a, const char *name)
{
	return find_long(a, name, strlen(name));
}

const char *cli_arg(const struct cli_args *a, const char *name)
{
	ssize_t k = opt_index(a, name);

	return k < 0 || !a->count[k] ? NULL : a->vals[k][a->count[k] - 1];
}

bool cli_flag(const struct cli_args *a, const char *name)
{
	return cli_arg(a, name) != NULL;
}

size_t cli_arg_all(const struct cli_args *a, const char *name, const char ***vals)
{
	ssize_t k = opt_index(a, name);

	*vals = k < 0 ? NULL : a->vals[k];
	return k < 0 ? 0 : a->count[k];
}

int cli_arg_int(struct cli_ctx *ctx, const struct cli_args *a, const char *name, int64_t min,
		int64_t max, int64_t *out)
{
	const char *v = cli_arg(a, name);

	if (!v)
		return -ENOENT;
	if (pvm_parse_int(v, min, max, out) < 0)
		return cli_usage_error(ctx, "--%s: '%s' is not an integer between %lld and %lld",
				       name, v, (long long)min, (long long)max);
	return 0;
}

static void print_opts(FILE *fp, const struct cli_opt *opts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", opts[i].short_name ? "-" : "",
			 opts[i].short_name ? opts[i].short_name : ' ',
			 opts[i].short_name ? ", " : "  ", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(fp, "  %-28s %s\n", opts[i].short_name ? left : left + 1, opts[i].help);
	}
}

void cli_help_globals(FILE *fp)
{
	fprintf(fp, "\nGlobal options:\n");
	print_opts(fp, cli_global_opts, cli_nglobal_opts);
}

void cli_help(FILE *fp, const struct cli_cmd *cmd, const char *prog)
{
	if (cmd->sub) {
		fprintf(fp, "Usage: %s COMMAND [OPTIONS]\n\n%s\n\nCommands:\n", prog, cmd->summary);
		for (size_t i = 0; i < cmd->nsub; i++)
			fprintf(fp, "  %-12s %s\n", cmd->sub[i].name, cmd->sub[i].summary);
	} else {
		fprintf(fp, "Usage: %s [OPTIONS]%s%s\n\n%s\n", prog, cmd->usage ? " " : "",
			cmd->usage ? cmd->usage : "", cmd->summary);
		if (cmd->nopts + cmd->nmore) {
			fprintf(fp, "\nOptions:\n");
			print_opts(fp, cmd->opts, cmd->nopts);
			print_opts(fp, cmd->more, cmd->nmore);
		}
	}
	cli_help_globals(fp);
	if (cmd->sub)
		fprintf(fp, "\nRun '%s COMMAND --help' for a command's options.\n", prog);
}

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctx->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", ctx->prog);
	return CLI_EXIT_USAGE;
}

int cli_fail(struct cli_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctx->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}
