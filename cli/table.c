/* SPDX-License-Identifier: MIT */
/*
 * Aligned human tables. Colour (bold header, states in green/yellow/red)
 * only when the caller says stdout is a terminal and NO_COLOR is not set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/internal.h"

struct cli_table {
	size_t ncols;
	char **headers;
	char ***rows;
	size_t nrows, cap;
};

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; cells && i < n; i++)
		free(cells[i]);
	free(cells);
}

static char **dup_cells(const char *const *in, size_t n)
{
	char **out = calloc(n, sizeof(*out));

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(in[i] && in[i][0] ? in[i] : "-");
		if (!out[i]) {
			free_cells(out, n);
			return NULL;
		}
		/* a cell is one line: tabs and newlines would break alignment */
		for (char *p = out[i]; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
	}
	return out;
}

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	struct cli_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->headers = dup_cells(headers, ncols);
	if (!t->headers) {
		free(t);
		return NULL;
	}
	return t;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char ***rows = realloc(t->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		t->rows = rows;
		t->cap = cap;
	}
	row = dup_cells(cells, t->ncols);
	if (!row)
		return -ENOMEM;
	t->rows[t->nrows++] = row;
	return 0;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Only states are coloured; a boolean's good value depends on its column. */
static const char *state_color(const char *v)
{
	static const char *const good[] = {"running", "ready", "bound", "ok", "accepted"};
	static const char *const wait[] = {"pending",  "scheduled", "starting", "not_ready",
					   "draining", "cordoned",  "stopped"};
	static const char *const bad[] = {"failed",  "unreachable",   "unknown",
					  "revoked", "unschedulable", "refused"};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(good); i++)
		if (strcmp(v, good[i]) == 0)
			return "\033[32m";
	for (size_t i = 0; i < PVM_ARRAY_SIZE(wait); i++)
		if (strcmp(v, wait[i]) == 0)
			return "\033[33m";
	for (size_t i = 0; i < PVM_ARRAY_SIZE(bad); i++)
		if (strcmp(v, bad[i]) == 0)
			return "\033[31m";
	return NULL;
}

static void print_row(FILE *fp, char **cells, const size_t *w, size_t n, bool color, bool header)
{
	for (size_t c = 0; c < n; c++) {
		const char *col = color ? (header ? "\033[1m" : state_color(cells[c])) : NULL;
		bool last = c + 1 == n;

		fprintf(fp, "%s%s%s", col ? col : "", cells[c], col ? "\033[0m" : "");
		if (!last)
			fprintf(fp, "%*s", (int)(w[c] - width(cells[c]) + 2), "");
	}
	fputc('\n', fp);
}

void cli_table_print(const struct cli_table *t, FILE *fp, bool color)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w)
		return;
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++)
			if (width(t->rows[r][c]) > w[c])
				w[c] = width(t->rows[r][c]);
	}
	print_row(fp, t->headers, w, t->ncols, color, true);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(fp, t->rows[r], w, t->ncols, color, false);
	free(w);
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	free_cells(t->headers, t->ncols);
	for (size_t r = 0; r < t->nrows; r++)
		free_cells(t->rows[r], t->ncols);
	free(t->rows);
	free(t);
}

bool cli_want_color(int fd, char *const *envp, bool disabled)
{
	if (disabled)
		return false;
	/* https://no-color.org: any non-empty NO_COLOR disables colour */
	for (; envp && *envp; envp++)
		if (strncmp(*envp, "NO_COLOR=", 9) == 0 && (*envp)[9])
			return false;
	return isatty(fd);
}
