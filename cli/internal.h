/* SPDX-License-Identifier: MIT */
/* Private to cli/: the command context, option parsing and the HTTP client. */
#ifndef PVM_CLI_INTERNAL_H
#define PVM_CLI_INTERNAL_H

#include <stdint.h>

#include <curl/curl.h>

#include "cli/cli.h"

enum cli_output {
	CLI_OUT_TABLE = 0,
	CLI_OUT_WIDE,
	CLI_OUT_JSON,
};

struct cli_ctx {
	struct cli_settings set;
	enum cli_output output;
	bool color;   /* stdout gets colour */
	bool tty_err; /* stderr is a terminal (spinners) */
	long timeout_s;
	const char *prog; /* "pvmctl guest create", for messages */
	CURL *curl;
	char *const *envp;
	bool quiet;	    /* cli_request prints nothing (best-effort lookups) */
	bool verbose;	    /* each request's URL, answer and failover on stderr */
	json_object *hosts; /* id -> name, cached by cli_host_names */
	size_t addr_cur;    /* set.addrs[]: where requests go, the last to answer */
	char idem_base[33]; /* this command's Idempotency-Key stem; "" until needed */
	unsigned idem_seq;  /* mutating requests sent so far */
};

/* ---- options ------------------------------------------------------------ */

#define CLI_MAX_OPTS 32

/* One option of a command; arg NULL makes it a switch. */
struct cli_opt {
	const char *name;
	char short_name; /* 0: none */
	const char *arg; /* placeholder in --help, NULL for a switch */
	const char *help;
};

struct cli_args {
	const struct cli_opt *opts[CLI_MAX_OPTS];
	size_t nopts;
	/* per option: how often given and every value (switches: "true") */
	size_t count[CLI_MAX_OPTS];
	const char **vals[CLI_MAX_OPTS];
	const char **pos; /* positional arguments */
	size_t npos;
};

/* One command of the tree: a leaf has fn, a group has sub. */
struct cli_cmd {
	const char *name;
	const char *summary;
	const char *usage; /* positional part of the usage line */
	const struct cli_opt *opts;
	size_t nopts;
	const struct cli_opt *more; /* a second table (shared option sets) */
	size_t nmore;
	int (*fn)(struct cli_ctx *ctx, struct cli_args *a);
	const struct cli_cmd *sub;
	size_t nsub;
	size_t min_pos, max_pos;
};

extern const struct cli_opt cli_global_opts[];
extern const size_t cli_nglobal_opts;

/*
 * Parses argv[0..argc) against the command's options and the global ones.
 * Returns 0, or CLI_EXIT_USAGE after printing the reason.
 */
int cli_args_parse(struct cli_args *a, const struct cli_cmd *cmd, int argc, char **argv,
		   const char *prog);
void cli_args_free(struct cli_args *a);
/* The last value of an option, or NULL. */
const char *cli_arg(const struct cli_args *a, const char *name);
bool cli_flag(const struct cli_args *a, const char *name);
/* Every value of a repeatable option. */
size_t cli_arg_all(const struct cli_args *a, const char *name, const char ***vals);
/* A strict integer option; CLI_EXIT_USAGE (after a message) when bad. */
int cli_arg_int(struct cli_ctx *ctx, const struct cli_args *a, const char *name, int64_t min,
		int64_t max, int64_t *out);

void cli_help(FILE *fp, const struct cli_cmd *cmd, const char *prog);
void cli_help_globals(FILE *fp);
/* "pvmctl guest create: <msg>" then a hint, on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "pvmctl guest create: <msg>" on stderr; returns code. */
int cli_fail(struct cli_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- HTTP --------------------------------------------------------------- */

struct cli_resp {
	long status;
	struct pvm_buf body;
	char etag[80];
	json_object *json; /* parsed 2xx body, NULL when empty */
};

/* Request options; all may be zero. */
struct cli_req {
	const char *if_match; /* ETag to send as If-Match */
	long timeout_s;	      /* 0: ctx->timeout_s; <0: none */
	long quiet_status;    /* a non-2xx status the caller handles itself */
};

/*
 * Sends method path (path starts with "/", query included) with an optional
 * JSON body to the controllers of ctx->set in turn: the next is tried when
 * one cannot be reached or answers 503, all within the request's timeout.
 * Anything but GET carries an Idempotency-Key, the same on every attempt.
 * Returns CLI_EXIT_OK with resp filled on 2xx; otherwise prints one line on
 * stderr (unless the status is quiet) and returns the exit code. resp is
 * always initialised; release it with cli_resp_free.
 */
int cli_request(struct cli_ctx *ctx, const char *method, const char *path, json_object *body,
		const struct cli_req *opt, struct cli_resp *resp);
/* The controller URL requests go to now: the one that answered last. */
const char *cli_addr(const struct cli_ctx *ctx);
void cli_resp_free(struct cli_resp *resp);
/* Escapes one path segment or query value. Caller frees. */
char *cli_escape(struct cli_ctx *ctx, const char *s);

/*
 * GETs every page of a list: *doc is the first page's answer with the later
 * pages' items appended and next_page_token null (caller puts), so -o json
 * shows the API's own shape.
 */
int cli_list_all(struct cli_ctx *ctx, const char *path, json_object **doc);

/*
 * Finds a resource by id or by name: GET base/ref, and on 404 with a ref
 * that is not an id, the list filtered by name. On success *obj holds the
 * object (caller puts) and etag its ETag.
 */
int cli_lookup(struct cli_ctx *ctx, const char *base, const char *ref, json_object **obj,
	       char *etag, size_t etag_len);

/*
 * PATCH (body) or DELETE (body NULL) a resource named by id or name, with
 * If-Match from a fresh read; a stale ETag is retried twice. *result (may
 * be NULL) gets the answer, or the object as read when the answer is empty.
 */
int cli_change(struct cli_ctx *ctx, const char *base, const char *ref, const char *method,
	       json_object *body, json_object **result);

/*
 * For tables: sets name_key to the host's name (its id when unknown) on
 * obj, or on each object of an array, whose id_key names a host. A failure
 * to list hosts leaves the ids alone, quietly.
 */
void cli_host_names(struct cli_ctx *ctx, json_object *obj, const char *id_key,
		    const char *name_key);

/* ---- output ------------------------------------------------------------- */

/* A field by dotted path ("spec.image"); NULL when absent or null. */
json_object *cli_field(json_object *obj, const char *path);
/* The field as text for a table cell ("-" when absent), into buf; returns
 * buf. */
const char *cli_field_text(json_object *obj, const char *path, char *buf, size_t len);

/* One column of a table: header, dotted field path, wide only. */
struct cli_col {
	const char *header;
	const char *path;
	bool wide;
	/* optional formatter: writes the cell for obj into buf */
	const char *(*fmt)(json_object *obj, const char *path, char *buf, size_t len);
};

/* Prints a list answer's items as a table of cols, or the answer as JSON. */
int cli_print_list(struct cli_ctx *ctx, json_object *doc, const struct cli_col *cols, size_t ncols);
/* Prints an array of objects as a table of cols (whatever ctx->output). */
int cli_print_rows(struct cli_ctx *ctx, json_object *items, const struct cli_col *cols,
		   size_t ncols);
/* Prints one object: "Key: value" lines of cols, then (wide) the rest; JSON as is. */
int cli_print_object(struct cli_ctx *ctx, json_object *obj, const struct cli_col *cols,
		     size_t ncols);
/* Prints JSON pretty on stdout. */
void cli_print_json(json_object *obj);

/* Formatters for cli_col.fmt. */
const char *cli_fmt_time_ms(json_object *obj, const char *path, char *buf, size_t len);
const char *cli_fmt_age_ms(json_object *obj, const char *path, char *buf, size_t len);
const char *cli_fmt_bytes(json_object *obj, const char *path, char *buf, size_t len);
const char *cli_fmt_keys(json_object *obj, const char *path, char *buf, size_t len);

/* ---- commands ----------------------------------------------------------- */

extern const struct cli_cmd cli_cmd_host, cli_cmd_guest, cli_cmd_image, cli_cmd_token,
    cli_cmd_events, cli_cmd_rebalance, cli_cmd_version;

/* Builds a guest spec from create/explain options (or -f FILE). */
int cli_guest_spec(struct cli_ctx *ctx, const struct cli_args *a, json_object **spec);
#define CLI_GUEST_SPEC_NOPTS 15
extern const struct cli_opt cli_guest_spec_opts[CLI_GUEST_SPEC_NOPTS];

/* guest create (guest_create.c): the spec options plus these. */
int cli_guest_create(struct cli_ctx *ctx, struct cli_args *a);
#define CLI_GUEST_CREATE_NOPTS 2
extern const struct cli_opt cli_guest_create_opts[CLI_GUEST_CREATE_NOPTS];

#endif /* PVM_CLI_INTERNAL_H */
