/* SPDX-License-Identifier: MIT */
/*
 * cli: pvmctl, the operator's command line. It speaks only the public REST
 * API (libcurl, json-c). This header is what the binary and the tests use;
 * public names carry the prefix cli_.
 */
#ifndef PVM_CLI_H
#define PVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/common.h"

/* Exit codes, part of pvmctl's interface (see pvmctl(1)). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_SERVER = 1,	  /* the server failed, or an operation did not succeed */
	CLI_EXIT_USAGE = 2,	  /* bad command line, or a request the server found invalid */
	CLI_EXIT_NOT_FOUND = 3,	  /* 404 */
	CLI_EXIT_CONFLICT = 4,	  /* 409, 412 */
	CLI_EXIT_AUTH = 5,	  /* 401, 403 */
	CLI_EXIT_UNREACHABLE = 6, /* no answer: connection, TLS, timeout */
	CLI_EXIT_NO_HOST = 7,	  /* problem type no-host: no host can take the guest */
};

#define CLI_DEFAULT_ADDR "http://127.0.0.1:7070"
/* Controllers one addr may list; more is a typo, not a fleet. */
#define CLI_MAX_ADDRS 8

/* Where the endpoint, token and CA come from: flags > PVM_* > config file. */
struct cli_settings {
	char *addr; /* the controllers' base URLs as given, normalised, comma-separated */
	/* each of them, scheme included, no trailing slash; tried in this order */
	char *addrs[CLI_MAX_ADDRS];
	size_t naddrs;
	char *token;  /* NULL: none */
	char *cacert; /* NULL: the system's CAs */
	enum pvm_config_source addr_src, token_src, cacert_src;
	char warning[PVM_ERR_MSG_MAX]; /* "" or something the operator should fix */
};

/* Flag values (NULL when not given) and the config file to read (NULL: the
 * default path, a missing default file is not an error). */
struct cli_flags {
	const char *addr;
	const char *token;
	const char *cacert;
	const char *config;
};

/*
 * The config file path: $XDG_CONFIG_HOME/pvm/config, else
 * $HOME/.config/pvm/config, looked up in envp. Caller frees; NULL when
 * neither variable is set.
 */
char *cli_config_path(char *const *envp);

/* Resolves the layers into s (owned strings; free with cli_settings_free). */
int cli_settings_resolve(struct cli_settings *s, const struct cli_flags *flags, char *const *envp,
			 struct pvm_err *err);
void cli_settings_free(struct cli_settings *s);

/* The exit code for an HTTP status and problem type (type may be NULL). */
int cli_exit_for_status(long status, const char *problem_type);

/*
 * Turns an error answer (problem+json or anything else) into one line,
 * "title: detail (field /x)", without a newline, into out. Returns the exit
 * code for it.
 */
int cli_problem_describe(long status, const char *body, size_t len, struct pvm_buf *out);

/* ---- tables ------------------------------------------------------------- */

struct cli_table;

struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Copies the cells (NULL prints as "-"). */
int cli_table_add(struct cli_table *t, const char *const *cells);
/* Columns padded to the widest cell, two spaces apart; colour states and
 * the header only when color. */
void cli_table_print(const struct cli_table *t, FILE *fp, bool color);
void cli_table_free(struct cli_table *t);

/* Colour decision: a terminal, NO_COLOR unset or empty, not disabled. */
bool cli_want_color(int fd, char *const *envp, bool disabled);

/* ---- the program -------------------------------------------------------- */

/* Runs one pvmctl command line; returns its exit code. */
int cli_main(int argc, char **argv, char *const *envp);

#endif /* PVM_CLI_H */
