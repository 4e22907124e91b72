// SPDX-License-Identifier: MIT
/* Base64 (RFC 4648, with padding) for agent bytes carried in control-socket JSON. */
#include <errno.h>
#include <string.h>

#include "hv/vm.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hv_b64_encode(struct pvm_buf *out, const uint8_t *p, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		if (pvm_buf_append(out, q, 4))
			return -ENOMEM;
	}
	return out->failed ? -ENOMEM : 0;
}

static int val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* Strict: length a multiple of 4, padding only at the end. Returns bytes or -EINVAL. */
ssize_t hv_b64_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t len = strlen(s), o = 0;

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int a = val(s[i]), b = val(s[i + 1]), c = val(s[i + 2]), d = val(s[i + 3]);
		bool last = i + 4 == len;
		int pad = (s[i + 2] == '=') + (s[i + 3] == '=');

		if (a < 0 || b < 0 || (pad && !last) || (s[i + 2] == '=' && s[i + 3] != '=') ||
		    (c < 0 && s[i + 2] != '=') || (d < 0 && s[i + 3] != '='))
			return -EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 |
			     (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);

		if (o + 3 - (size_t)pad > cap)
			return -ENOBUFS;
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	return (ssize_t)o;
}
