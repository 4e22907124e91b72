/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the statistics report (common/report.c): a VMM's
 * "report" as pvmd decodes it, parsed strictly and decoded. What decodes
 * must encode, and its encoding must decode to the same report: a report
 * relayed hop by hop (VMM, pvmd, API) cannot change on the way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvm_report r, back;
	struct pvm_err err = {0};
	json_object *obj = NULL, *enc = NULL, *again = NULL;
	const char *text;

	if (pvm_json_parse((const char *)data, size, &pvm_json_default_limits, &obj, &err) < 0)
		return 0;
	if (pvm_report_decode(obj, "/report", NULL, 0, &r, &err) < 0)
		goto out;
	enc = json_object_new_object();
	if (pvm_report_encode(&r, enc) < 0)
		abort();
	text = json_object_to_json_string_ext(enc, JSON_C_TO_STRING_PLAIN);
	if (pvm_json_parse(text, strlen(text), &pvm_json_default_limits, &again, &err) < 0 ||
	    pvm_report_decode(again, "", NULL, 0, &back, &err) < 0 ||
	    memcmp(&r, &back, sizeof(r)) != 0)
		abort(); /* the report changed in its own round trip */
out:
	json_object_put(again);
	json_object_put(enc);
	json_object_put(obj);
	return 0;
}
