/* SPDX-License-Identifier: MIT */
/* A growable string buffer with a latched allocation failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

void pvm_buf_init(struct pvm_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void pvm_buf_free(struct pvm_buf *b)
{
	free(b->data);
	pvm_buf_init(b);
}

void pvm_buf_reset(struct pvm_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct pvm_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return -ENOMEM;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = true;
	return -ENOMEM;
}

int pvm_buf_append(struct pvm_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int pvm_buf_printf(struct pvm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf_reserve(b, 64) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= b->cap - b->len) {
		if (buf_reserve(b, (size_t)n) < 0)
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int pvm_buf_json_escape(struct pvm_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		const char *out = esc;
		size_t n = 2;

		switch (*p) {
		case '"':
			out = "\\\"";
			break;
		case '\\':
			out = "\\\\";
			break;
		case '\n':
			out = "\\n";
			break;
		case '\r':
			out = "\\r";
			break;
		case '\t':
			out = "\\t";
			break;
		default:
			if (*p < 0x20) {
				n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
			} else {
				esc[0] = (char)*p;
				n = 1;
			}
		}
		if (pvm_buf_append(b, out, n) < 0)
			return -ENOMEM;
	}
	return b->failed ? -ENOMEM : 0;
}

char *pvm_buf_steal(struct pvm_buf *b)
{
	char *p;

	if (b->failed) {
		pvm_buf_free(b);
		return NULL;
	}
	if (!b->data && pvm_buf_append(b, "", 0) < 0)
		return NULL;
	p = b->data;
	pvm_buf_init(b);
	return p;
}
