/* SPDX-License-Identifier: MIT */
/* Errors that carry a message and a field up the stack. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static void err_vset(struct pvm_err *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int pvm_err_set(struct pvm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	err->field[0] = '\0';
	return code;
}

int pvm_err_field(struct pvm_err *err, int code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	return code;
}

int pvm_err_prefix(struct pvm_err *err, const char *fmt, ...)
{
	char old[PVM_ERR_MSG_MAX];
	va_list ap;
	int n;

	if (!err)
		return 0;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* An over-long message is cut at the end, keeping the new context. */
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %.*s",
			 (int)(sizeof(err->msg) - (size_t)n), old);
	return err->code;
}

void pvm_err_clear(struct pvm_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
	err->field[0] = '\0';
}
