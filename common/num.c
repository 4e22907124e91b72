/* SPDX-License-Identifier: MIT */
/* Strict number parsing: the whole string, in range, or an error. */
#include <errno.h>
#include <stdlib.h>

#include "common/common.h"

int pvm_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
