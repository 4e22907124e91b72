/* SPDX-License-Identifier: MIT */
/* Strict JSON: malformed documents and schema violations, each with its message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/common.h"

static const struct pvm_json_field spec_fields[] = {
    {.name = "name", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 63},
    {.name = "vcpus", .type = PVM_JSON_INT, .required = true, .min = 1, .max = 256},
    {.name = "memory_mib", .type = PVM_JSON_INT, .min = 16, .max = 1 << 20},
    {.name = "ratio", .type = PVM_JSON_DOUBLE, .min = 0, .max = 0},
    {.name = "pv", .type = PVM_JSON_BOOL},
    {.name = "labels", .type = PVM_JSON_OBJECT, .nullable = true},
    {.name = "hooks", .type = PVM_JSON_ARRAY, .max_len = 8},
};

struct bad_case {
	const char *doc;
	int code;
	const char *field;   /* JSON pointer expected in err.field */
	const char *message; /* substring expected in err.msg */
	size_t len;	     /* 0: strlen(doc); set where doc embeds a NUL */
};

static const struct bad_case bad_cases[] = {
    /* syntax */
    {"", -EINVAL, "", "empty document", 0},
    {"{", -EINVAL, "", "unexpected end of input", 0},
    {"{\"name\":", -EINVAL, "", "unexpected end of input", 0},
    {"{\"name\":\"a\",}", -EINVAL, "", "malformed JSON", 0},
    {"{'name':'a'}", -EINVAL, "", "malformed JSON", 0},
    {"{\"name\":\"a\"} x", -EINVAL, "", "malformed JSON at byte 13", 0},
    {"{\"name\":\"a\"}{}", -EINVAL, "", "malformed JSON at byte 12", 0},
    {"{\"name\":\"\xff\xfe\"}", -EINVAL, "", "malformed JSON", 0},
    {"{\"name\":\"a\x00\"}", -EINVAL, "", "NUL byte", 13},
    {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", -EINVAL,
     "", "nesting deeper", 0},
    {"{\"vcpus\":01}", -EINVAL, "", "malformed JSON", 0},
    {"{\"pv\":True}", -EINVAL, "", "malformed JSON", 0},
    /* schema */
    {"[]", -EINVAL, "", "document must be an object", 0},
    {"\"str\"", -EINVAL, "", "document must be an object", 0},
    {"{}", -EINVAL, "/name", "missing required field /name", 0},
    {"{\"name\":\"a\"}", -EINVAL, "/vcpus", "missing required field /vcpus", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"color\":\"red\"}", -EINVAL, "/color", "unknown field /color",
     0},
    {"{\"name\":\"a\",\"vcpus\":1,\"a/b\":1}", -EINVAL, "/a~1b", "unknown field /a~1b", 0},
    {"{\"name\":5,\"vcpus\":1}", -EINVAL, "/name", "field /name must be a string", 0},
    {"{\"name\":\"a\",\"vcpus\":\"2\"}", -EINVAL, "/vcpus", "must be an integer", 0},
    {"{\"name\":\"a\",\"vcpus\":1.5}", -EINVAL, "/vcpus", "must be an integer", 0},
    {"{\"name\":\"a\",\"vcpus\":0}", -ERANGE, "/vcpus", "between 1 and 256", 0},
    {"{\"name\":\"a\",\"vcpus\":-3}", -ERANGE, "/vcpus", "between 1 and 256", 0},
    {"{\"name\":\"a\",\"vcpus\":99999999999999999999}", -ERANGE, "/vcpus", "out of range", 0},
    {"{\"name\":\"\",\"vcpus\":1}", -EINVAL, "/name", "at least 1 bytes", 0},
    {"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
     "\"vcpus\":1}",
     -EINVAL, "/name", "at most 63 bytes", 0},
    {"{\"name\":\"a\\u0000b\",\"vcpus\":1}", -EINVAL, "/name", "NUL byte", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"pv\":1}", -EINVAL, "/pv", "must be a boolean", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"labels\":[]}", -EINVAL, "/labels", "must be an object", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"hooks\":{}}", -EINVAL, "/hooks", "must be an array", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"hooks\":[1,2,3,4,5,6,7,8,9]}", -EINVAL, "/hooks",
     "at most 8 elements", 0},
    {"{\"name\":\"a\",\"name\":\"b\",\"vcpus\":1}", -EINVAL, "/name", "duplicate key \"name\"", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"labels\":{\"k\":\"1\",\"\\u006b\":\"2\"}}", -EINVAL,
     "/labels/k", "duplicate key \"k\"", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"hooks\":[{},{\"x\":1,\"x\":1}]}", -EINVAL, "/hooks/1/x",
     "duplicate key", 0},
    {"{\"name\":\"a\",\"vcpus\":9223372036854775808}", -ERANGE, "/vcpus", "out of range", 0},
    {"{\"name\":\"a\",\"vcpus\":-9223372036854775809}", -ERANGE, "/vcpus", "out of range", 0},
    {"{\"name\":\"a\",\"vcpus\":99999999999999999999999999999999999}", -ERANGE, "/vcpus",
     "out of range", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"hooks\":[18446744073709551615]}", -ERANGE, "/hooks/0",
     "out of range", 0},
    {"{\"name\":null,\"vcpus\":1}", -EINVAL, "/name", "must not be null", 0},
    {"{\"name\":\"a\",\"vcpus\":1,\"ratio\":\"x\"}", -EINVAL, "/ratio", "must be a number", 0},
};

static int parse_and_check(const char *doc, size_t len, struct pvm_err *err)
{
	json_object *obj = NULL;
	int ret;

	ret = pvm_json_parse(doc, len, NULL, &obj, err);
	if (ret == 0)
		ret = pvm_json_check(obj, "", spec_fields, PVM_ARRAY_SIZE(spec_fields), err);
	json_object_put(obj);
	return ret;
}

START_TEST(test_bad_documents)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t len = c->len ? c->len : strlen(c->doc);
	struct pvm_err err = {0};
	int ret = parse_and_check(c->doc, len, &err);

	ck_assert_msg(ret == c->code, "case %d (%s): got %d want %d (%s)", _i, c->doc, ret, c->code,
		      err.msg);
	ck_assert_int_eq(err.code, c->code);
	ck_assert_str_eq(err.field, c->field);
	ck_assert_msg(strstr(err.msg, c->message), "case %d: message '%s' lacks '%s'", _i, err.msg,
		      c->message);
}
END_TEST

/* hv/ctl.c parses control requests with pvm_json_parse: a repeated "cmd" is refused. */
START_TEST(test_ctl_duplicate_cmd)
{
	const char *doc = "{\"cmd\":\"status\",\"cmd\":\"stop\"}";
	struct pvm_err err = {0};
	json_object *obj = NULL;

	ck_assert_int_eq(pvm_json_parse(doc, strlen(doc), NULL, &obj, &err), -EINVAL);
	ck_assert_ptr_null(obj);
	ck_assert_str_eq(err.field, "/cmd");
	ck_assert_msg(strstr(err.msg, "duplicate key \"cmd\""), "%s", err.msg);
}
END_TEST

START_TEST(test_int64_edges)
{
	const char *docs[] = {"9223372036854775807", "-9223372036854775808", "[0,-0,1e30,1.5]",
			      "{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
			      "{\"\\ud83d\\ude00\":1,\"x\":2}"};
	struct pvm_err err = {0};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(docs); i++) {
		json_object *obj = NULL;

		ck_assert_msg(pvm_json_parse(docs[i], strlen(docs[i]), NULL, &obj, &err) == 0,
			      "%s: %s", docs[i], err.msg);
		json_object_put(obj);
	}
	ck_assert_int_eq(
	    pvm_json_parse("9223372036854775808", 19, NULL, &(json_object *){NULL}, &err), -ERANGE);
	ck_assert_str_eq(err.field, "");
}
END_TEST

START_TEST(test_good_document)
{
	const char *doc = " {\"name\":\"web-1\",\"vcpus\":2,\"memory_mib\":512,\"pv\":true,"
			  "\"ratio\":0.5,\"labels\":null,\"hooks\":[\"console\"]}\n";
	struct pvm_err err = {0};
	json_object *obj = NULL;
	const char *name = NULL;
	int64_t vcpus = 0, mem = 0;
	double ratio = 0;
	bool pv = false;

	ck_assert_int_eq(pvm_json_parse(doc, strlen(doc), NULL, &obj, &err), 0);
	ck_assert_int_eq(pvm_json_check(obj, "", spec_fields, PVM_ARRAY_SIZE(spec_fields), &err),
			 0);
	ck_assert_int_eq(pvm_json_get_str(obj, "name", &name), 0);
	ck_assert_str_eq(name, "web-1");
	ck_assert_int_eq(pvm_json_get_int(obj, "vcpus", &vcpus), 0);
	ck_assert_int_eq(vcpus, 2);
	ck_assert_int_eq(pvm_json_get_int(obj, "memory_mib", &mem), 0);
	ck_assert_int_eq(mem, 512);
	ck_assert_int_eq(pvm_json_get_bool(obj, "pv", &pv), 0);
	ck_assert(pv);
	ck_assert_int_eq(pvm_json_get_double(obj, "ratio", &ratio), 0);
	ck_assert(ratio == 0.5);
	/* null and absent fields leave the default alone */
	ck_assert_int_eq(pvm_json_get_str(obj, "labels", &name), -ENOENT);
	ck_assert_int_eq(pvm_json_get_int(obj, "nope", &vcpus), -ENOENT);
	ck_assert_int_eq(vcpus, 2);
	json_object_put(obj);
}
END_TEST

START_TEST(test_top_level_scalars)
{
	static const char *const docs[] = {"1", "12", "-3.5", "true", "null", "\"s\"", " 7 "};
	struct pvm_err err = {0};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(docs); i++) {
		json_object *obj = NULL;

		ck_assert_msg(pvm_json_parse(docs[i], strlen(docs[i]), NULL, &obj, &err) == 0,
			      "%s: %s", docs[i], err.msg);
		json_object_put(obj);
	}
	ck_assert_int_eq(pvm_json_parse("12 3", 4, NULL, &(json_object *){NULL}, &err), -EINVAL);
	ck_assert_int_eq(pvm_json_parse("[1,", 3, NULL, &(json_object *){NULL}, &err), -EINVAL);
	ck_assert(strstr(err.msg, "unexpected end of input"));
}
END_TEST

START_TEST(test_size_limit)
{
	struct pvm_json_limits lim = {.max_bytes = 64, .max_depth = 4};
	char doc[128];
	struct pvm_err err = {0};
	json_object *obj = NULL;

	memset(doc, ' ', sizeof(doc));
	memcpy(doc, "{}", 2);
	ck_assert_int_eq(pvm_json_parse(doc, sizeof(doc), &lim, &obj, &err), -E2BIG);
	ck_assert_ptr_null(obj);
	ck_assert(strstr(err.msg, "limit is 64"));
	ck_assert_int_eq(pvm_json_parse("[[[[[1]]]]]", 11, &lim, &obj, &err), -EINVAL);
	ck_assert(strstr(err.msg, "nesting"));
	ck_assert_int_eq(pvm_json_parse("[[[1]]]", 7, &lim, &obj, &err), 0);
	json_object_put(obj);
}
END_TEST

START_TEST(test_nested_path)
{
	static const struct pvm_json_field inner[] = {
	    {.name = "hooks_required", .type = PVM_JSON_ARRAY, .required = true},
	};
	const char *doc = "{\"pv\":{\"hooks_required\":[],\"extra\":1}}";
	struct pvm_err err = {0};
	json_object *obj = NULL, *pv = NULL;

	ck_assert_int_eq(pvm_json_parse(doc, strlen(doc), NULL, &obj, &err), 0);
	ck_assert(json_object_object_get_ex(obj, "pv", &pv));
	ck_assert_int_eq(pvm_json_check(pv, "/pv", inner, 1, &err), -EINVAL);
	ck_assert_str_eq(err.field, "/pv/extra");
	json_object_put(obj);
}
END_TEST

/* The rules a table states beyond types and bounds: enums, names, nested
 * objects, array elements and uniqueness; each refusal names its field. */
static const char *colour_nth(unsigned i)
{
	static const char *const c[] = {"red", "green"};

	return i < 2 ? c[i] : NULL;
}

START_TEST(test_table_rules)
{
	static const struct pvm_json_field colour = {.type = PVM_JSON_STRING,
						     .name_of = colour_nth};
	static const struct pvm_json_field size[] = {
	    {.name = "cpus", .type = PVM_JSON_INT, .required = true, .min = 1, .max = 8},
	};
	static const struct pvm_json_field sized = {
	    .type = PVM_JSON_OBJECT, .fields = size, .nfields = 1};
	static const struct pvm_json_field f[] = {
	    {.name = "name", .type = PVM_JSON_STRING, .name_chars = true},
	    {.name = "colour", .type = PVM_JSON_STRING, .name_of = colour_nth},
	    {.name = "colours", .type = PVM_JSON_ARRAY, .item = &colour, .unique = true},
	    {.name = "free", .type = PVM_JSON_OBJECT, .fields = size, .nfields = 1},
	    {.name = "slots", .type = PVM_JSON_ARRAY, .item = &sized},
	};
	static const struct {
		const char *doc, *field, *msg;
	} cases[] = {
	    {"{\"name\":\"a b\"}", "/name", "names are letters"},
	    {"{\"colour\":\"blue\"}", "/colour", "must be one of red, green"},
	    {"{\"colours\":[\"red\",\"pink\"]}", "/colours/1", "must be one of red, green"},
	    {"{\"colours\":[\"red\",\"red\"]}", "/colours/1", "named twice"},
	    {"{\"colours\":[1]}", "/colours/0", "must be a string"},
	    {"{\"free\":{\"cpus\":9}}", "/free/cpus", "between 1 and 8"},
	    {"{\"free\":{}}", "/free/cpus", "missing required field"},
	    {"{\"slots\":[{\"cpus\":1},{\"gpus\":1}]}", "/slots/1/gpus", "unknown field"},
	};
	const char *good = "{\"name\":\"web-1.a_b\",\"colour\":\"green\",\"colours\":[\"red\","
			   "\"green\"],\"free\":{\"cpus\":8},\"slots\":[{\"cpus\":1}]}";
	struct pvm_err err = {0};
	json_object *obj = NULL;

	ck_assert_int_eq(pvm_json_parse(good, strlen(good), NULL, &obj, &err), 0);
	ck_assert_msg(pvm_json_check(obj, "", f, PVM_ARRAY_SIZE(f), &err) == 0, "%s", err.msg);
	json_object_put(obj);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(cases); i++) {
		memset(&err, 0, sizeof(err));
		ck_assert_int_eq(
		    pvm_json_parse(cases[i].doc, strlen(cases[i].doc), NULL, &obj, &err), 0);
		ck_assert_int_lt(pvm_json_check(obj, "", f, PVM_ARRAY_SIZE(f), &err), 0);
		ck_assert_str_eq(err.field, cases[i].field);
		ck_assert_msg(strstr(err.msg, cases[i].msg), "%s: %s", cases[i].doc, err.msg);
		json_object_put(obj);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common_json");
	TCase *tc = tcase_create("json");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_bad_documents, 0, (int)PVM_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, test_good_document);
	tcase_add_test(tc, test_ctl_duplicate_cmd);
	tcase_add_test(tc, test_int64_edges);
	tcase_add_test(tc, test_top_level_scalars);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_nested_path);
	tcase_add_test(tc, test_table_rules);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
