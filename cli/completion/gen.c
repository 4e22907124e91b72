// SPDX-License-Identifier: MIT
/*
 * Writes a shell completion script from its template (pvmctl.bash.in,
 * _pvmctl.in) with every @PVM_HOOKS@ replaced by the pv hook names of
 * hv/pv_abi.h, space-separated: the shells cannot read C, so the build
 * writes the one list into them. A template without the placeholder is an
 * error: its list would drift. Usage: pvm-completion-gen TEMPLATE OUTPUT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pv_abi.h"

#define PLACEHOLDER "@PVM_HOOKS@"

#define HOOK_WORD(id, name, bit) " " name
static const char *const hook_words = &(PV_HOOKS(HOOK_WORD))[1];

/* The whole file at path as a NUL-terminated string (malloc'd), or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *p;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				buf = NULL;
				goto out;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[len] = '\0';
out:
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	char *text, *p, *at;
	size_t nplaces = 0;
	FILE *out;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TEMPLATE OUTPUT\n", argv[0]);
		return 2;
	}
	text = slurp(argv[1]);
	if (!text) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	out = fopen(argv[2], "w");
	if (!out) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
		goto out;
	}
	for (p = text; (at = strstr(p, PLACEHOLDER)); p = at + strlen(PLACEHOLDER), nplaces++) {
		fwrite(p, 1, (size_t)(at - p), out);
		fputs(hook_words, out);
	}
	fputs(p, out);
	if (fclose(out) != 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
		goto out;
	}
	if (nplaces == 0) {
		fprintf(stderr, "%s: %s has no %s\n", argv[0], argv[1], PLACEHOLDER);
		remove(argv[2]);
		goto out;
	}
	ret = 0;
out:
	free(text);
	return ret;
}
