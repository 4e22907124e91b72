/* SPDX-License-Identifier: MIT */
/*
 * The statistics report: what the encoder writes the decoder reads back
 * field for field, and every malformed report is refused naming its field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/common.h"
#include "hv/pv_abi.h"

static struct pvm_report *full_report(void)
{
	struct pvm_report *r = calloc(1, sizeof(*r));
	struct pvm_report_hook *h;

	ck_assert_ptr_nonnull(r);
	r->has_platform = r->has_hooks = r->has_caps = r->has_exits = true;
	r->platform = PVM_PLATFORM_PROCESS;
	h = &r->hooks[r->nhooks++];
	*h = (struct pvm_report_hook){.hook = PV_HOOK_CONSOLE,
				      .calls = 10,
				      .doorbells = 2,
				      .bytes = 640,
				      .errors = 1,
				      .exits_avoided = 638,
				      .has_histogram = true,
				      .service_ns_total = 9000,
				      .nbuckets = 3,
				      .service_ns_log2 = {0, 4, 6}};
	h = &r->hooks[r->nhooks++];
	*h = (struct pvm_report_hook){.hook = PV_HOOK_HALT, .calls = INT64_MAX, .doorbells = 7};
	snprintf(r->caps[0].name, sizeof(r->caps[0].name), "console");
	r->caps[0].accepted = true;
	r->caps[0].abi_version = 1;
	snprintf(r->caps[1].name, sizeof(r->caps[1].name), "block");
	r->caps[1].abi_version = 1;
	snprintf(r->caps[1].reason, sizeof(r->caps[1].reason), "not accepted by the guest");
	snprintf(r->caps[2].name, sizeof(r->caps[2].name), "kvm:steal_time");
	r->caps[2].accepted = true;
	r->ncaps = 3;
	snprintf(r->exits[0].reason, sizeof(r->exits[0].reason), "io");
	r->exits[0].count = 4103;
	snprintf(r->exits[1].reason, sizeof(r->exits[1].reason), "total");
	r->exits[1].count = 4105;
	r->nexits = 2;
	return r;
}

/* Encodes r, prints it, parses the text as a peer would and decodes it. */
static int round_trip(const struct pvm_report *r, struct pvm_report *out, struct pvm_err *err)
{
	json_object *o = json_object_new_object(), *back = NULL;
	const char *txt;
	int ret;

	ck_assert_int_eq(pvm_report_encode(r, o), 0);
	txt = json_object_to_json_string(o);
	ret = pvm_json_parse(txt, strlen(txt), NULL, &back, err);
	if (ret == 0)
		ret = pvm_report_decode(back, "", NULL, 0, out, err);
	json_object_put(back);
	json_object_put(o);
	return ret;
}

START_TEST(round_trip_keeps_every_field)
{
	struct pvm_report *r = full_report(), *back = calloc(1, sizeof(*back));
	struct pvm_err err = {0};

	ck_assert_msg(round_trip(r, back, &err) == 0, "%s: %s", err.field, err.msg);
	/* both were zeroed before they were filled: bytes compare */
	ck_assert_int_eq(memcmp(r, back, sizeof(*r)), 0);
	ck_assert_int_eq(back->platform, PVM_PLATFORM_PROCESS);
	ck_assert_uint_eq(back->nhooks, 2);
	ck_assert_int_eq(back->hooks[0].exits_avoided, 638);
	ck_assert_int_eq(back->hooks[0].service_ns_log2[2], 6);
	ck_assert(!back->hooks[1].has_histogram);
	ck_assert_int_eq(back->hooks[1].calls, INT64_MAX);
	ck_assert_str_eq(back->caps[1].reason, "not accepted by the guest");
	ck_assert(!back->caps[1].accepted);
	ck_assert_int_eq(back->exits[1].count, 4105);

	/* members a report does not carry stay out, and come back absent */
	memset(r, 0, sizeof(*r));
	r->has_hooks = true;
	ck_assert_int_eq(round_trip(r, back, &err), 0);
	ck_assert_int_eq(memcmp(r, back, sizeof(*r)), 0);
	free(r);
	free(back);
}
END_TEST

START_TEST(encoder_writes_the_wire_names)
{
	struct pvm_report *r = full_report();
	json_object *o = json_object_new_object(), *h;

	ck_assert_int_eq(pvm_report_encode(r, o), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "platform")), "process");
	h = json_object_array_get_idx(json_object_object_get(o, "hook_stats"), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(h, "hook")), "console");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(h, "doorbells")), 2);
	h = json_object_object_get(h, "histogram");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(h, "service_ns_total")),
			 9000);
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(h, "service_ns_log2")),
			  3);
	ck_assert(!json_object_object_get_ex(
	    json_object_array_get_idx(json_object_object_get(o, "capabilities"), 0), "reason",
	    NULL));
	json_object_put(o);
	free(r);
}
END_TEST

struct bad_case {
	const char *doc;
	const char *field;   /* JSON pointer expected in err.field */
	const char *message; /* substring expected in err.msg */
};

static const struct bad_case bad_cases[] = {
    /* unknown fields, at every depth */
    {"{\"hook_stat\":[]}", "/hook_stat", "unknown field"},
    {"{\"hook_stats\":[{\"hook\":\"console\",\"call\":1}]}", "/hook_stats/0/call", "unknown field"},
    {"{\"hook_stats\":[{\"hook\":\"console\",\"histogram\":{\"buckets\":[]}}]}",
     "/hook_stats/0/histogram/buckets", "unknown field"},
    {"{\"capabilities\":[{\"name\":\"console\",\"state\":\"accepted\",\"why\":\"\"}]}",
     "/capabilities/0/why", "unknown field"},
    /* negative counts */
    {"{\"hook_stats\":[{\"hook\":\"console\",\"calls\":-1}]}", "/hook_stats/0/calls", "between 0"},
    {"{\"hook_stats\":[{\"hook\":\"block\",\"histogram\":{\"service_ns_log2\":[1,-2]}}]}",
     "/hook_stats/0/histogram/service_ns_log2/1", "negative"},
    {"{\"exits\":{\"io\":-1}}", "/exits/io", "negative"},
    /* wrong types */
    {"{\"hook_stats\":[{\"hook\":\"console\",\"bytes\":\"640\"}]}", "/hook_stats/0/bytes",
     "integer"},
    {"{\"hook_stats\":[{\"hook\":\"console\",\"errors\":1.5}]}", "/hook_stats/0/errors", "integer"},
    {"{\"hook_stats\":{}}", "/hook_stats", "array"},
    {"{\"exits\":{\"io\":\"5\"}}", "/exits/io", "integer"},
    {"{\"exits\":[1]}", "/exits", "object"},
    {"{\"platform\":7}", "/platform", "string"},
    {"[]", "", "must be an object"},
    /* duplicate keys, refused by the parser every hop uses */
    {"{\"hook_stats\":[{\"hook\":\"console\",\"calls\":1,\"calls\":2}]}", "/hook_stats/0/calls",
     "duplicate key"},
    {"{\"exits\":{\"io\":1},\"exits\":{}}", "/exits", "duplicate key"},
    /* names and values out of their vocabulary */
    {"{\"hook_stats\":[{\"hook\":\"memreport\"}]}", "/hook_stats/0", "unknown hook"},
    {"{\"hook_stats\":[{\"calls\":1}]}", "/hook_stats/0/hook", "missing required"},
    {"{\"hook_stats\":[{\"hook\":\"clock\"},{\"hook\":\"clock\"}]}", "/hook_stats/1",
     "reported twice"},
    {"{\"capabilities\":[{\"name\":\"teleport\",\"state\":\"accepted\"}]}", "/capabilities/0",
     "unknown capability"},
    {"{\"capabilities\":[{\"name\":\"console\",\"state\":\"offered\"}]}", "/capabilities/0",
     "accepted or refused"},
    {"{\"platform\":\"xen\"}", "/platform", "must be one of kvm, process"},
    {"{\"exits\":{\"I/O\":1}}", "/exits", "a name is"},
    {"{\"hook_stats\":[{\"hook\":\"console\",\"calls\":9223372036854775808}]}",
     "/hook_stats/0/calls", "out of range"},
};

START_TEST(malformed_reports_name_the_field)
{
	const struct bad_case *c = &bad_cases[_i];
	struct pvm_report *r = calloc(1, sizeof(*r));
	struct pvm_err err = {0};
	json_object *o = NULL;
	int ret;

	ret = pvm_json_parse(c->doc, strlen(c->doc), NULL, &o, &err);
	if (ret == 0)
		ret = pvm_report_decode(o, "", NULL, 0, r, &err);
	ck_assert_msg(ret < 0, "accepted %s", c->doc);
	ck_assert_msg(strcmp(err.field, c->field) == 0, "%s: field \"%s\", wanted \"%s\" (%s)",
		      c->doc, err.field, c->field, err.msg);
	ck_assert_msg(strstr(err.msg, c->message), "%s: message \"%s\", wanted \"%s\"", c->doc,
		      err.msg, c->message);
	json_object_put(o);
	free(r);
}
END_TEST

/* A report inside a larger document: its members are checked under path, and
 * the document's own members pass through the caller's schema. */
START_TEST(embedded_report)
{
	static const struct pvm_json_field body[] = {
	    {.name = "observed_state", .type = PVM_JSON_STRING, .max_len = 32},
	    PVM_REPORT_FIELDS,
	};
	static const char doc[] = "{\"observed_state\":\"running\",\"hook_stats\":[{\"hook\":"
				  "\"agent\",\"calls\":3}],\"exits\":{\"total\":9}}";
	struct pvm_report *r = calloc(1, sizeof(*r));
	struct pvm_err err = {0};
	json_object *o = NULL, *wrap;

	ck_assert_int_eq(pvm_json_parse(doc, strlen(doc), NULL, &o, &err), 0);
	ck_assert_int_eq(pvm_report_decode(o, "", body, PVM_ARRAY_SIZE(body), r, &err), 0);
	ck_assert_uint_eq(r->nhooks, 1);
	ck_assert_uint_eq(r->hooks[0].hook, PV_HOOK_AGENT);
	ck_assert(r->has_exits && !r->has_caps && !r->has_platform);
	/* the report alone has no observed_state */
	ck_assert_int_eq(pvm_report_decode(o, "", NULL, 0, r, &err), -EINVAL);
	ck_assert_str_eq(err.field, "/observed_state");
	/* and under a path, the fields are named below it */
	json_object_object_del(o, "observed_state");
	json_object_object_add(json_object_object_get(o, "exits"), "hlt", json_object_new_int(-4));
	wrap = json_object_new_object();
	json_object_object_add(wrap, "report", o);
	ck_assert_int_eq(
	    pvm_report_decode(json_object_object_get(wrap, "report"), "/report", NULL, 0, r, &err),
	    -EINVAL);
	ck_assert_str_eq(err.field, "/report/exits/hlt");
	json_object_put(wrap);
	free(r);
}
END_TEST

START_TEST(names_and_maps)
{
	char long_name[80];
	struct pvm_err err = {0};
	json_object *m = json_object_new_object();

	ck_assert(pvm_report_name_ok("doorbell_kernel"));
	ck_assert(!pvm_report_name_ok(""));
	ck_assert(!pvm_report_name_ok("Io"));
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	ck_assert(!pvm_report_name_ok(long_name));
	long_name[63] = '\0';
	ck_assert(pvm_report_name_ok(long_name));
	for (int i = 0; i <= PVM_REPORT_MAP_MAX; i++) {
		char k[16];

		snprintf(k, sizeof(k), "r%d", i);
		ck_assert_int_eq(pvm_report_map_check(m, "/m", NULL, &err), 0);
		json_object_object_add(m, k, json_object_new_int(i));
	}
	ck_assert_int_eq(pvm_report_map_check(m, "/m", NULL, &err), -EINVAL);
	ck_assert_str_eq(err.field, "/m");
	json_object_put(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common_report");
	TCase *tc = tcase_create("report");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip_keeps_every_field);
	tcase_add_test(tc, encoder_writes_the_wire_names);
	tcase_add_loop_test(tc, malformed_reports_name_the_field, 0, PVM_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, embedded_report);
	tcase_add_test(tc, names_and_maps);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
