/* SPDX-License-Identifier: MIT */
/*
 * The VMM control-socket client against a scripted peer on a real unix
 * socket (a misbehaving VMM cannot be made to order): good answers, VMM
 * errors, garbage, silence, early close, oversized answers. And the
 * conversion of a VMM's statistics into the controller's report shapes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "daemon/host.h"
#include "daemon/vmm.h"
#include "hv/hv.h"

static char sock_path[108];
static struct pvm_err err;

struct peer {
	int lfd;
	const char *answer; /* sent after the request line; NULL: close at once */
	size_t repeat;	    /* answer sent this many times (for oversized answers) */
	bool silent;	    /* read the request, answer nothing until closed */
	char request[256];
	pthread_t thread;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	size_t len = 0;
	char c;

	if (fd < 0)
		return NULL;
	if (p->answer || p->silent) {
		while (len + 1 < sizeof(p->request) && read(fd, &c, 1) == 1 && c != '\n')
			p->request[len++] = c;
		p->request[len] = '\0';
	}
	for (size_t i = 0; p->answer && i < (p->repeat ? p->repeat : 1); i++)
		if (send(fd, p->answer, strlen(p->answer), MSG_NOSIGNAL) < 0)
			break;
	if (p->silent)
		while (read(fd, &c, 1) > 0)
			;
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sock_path, sizeof(sock_path), "/tmp/pvmd-ctl-%d.sock", (int)getpid());
	unlink(sock_path);
	strcpy(sa.sun_path, sock_path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(p->lfd, 0);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static int call_peer(struct peer *p, unsigned timeout_ms, json_object **ans)
{
	int ret;

	peer_start(p);
	ret = pvmd_vmm_call(sock_path, "{\"cmd\":\"status\"}", timeout_ms, ans, &err);
	shutdown(p->lfd, SHUT_RDWR);
	close(p->lfd);
	pthread_join(p->thread, NULL);
	unlink(sock_path);
	return ret;
}

START_TEST(test_ok)
{
	struct peer p = {.answer = "{\"ok\":true,\"state\":\"running\"}\n"};
	json_object *ans = NULL;
	const char *st = NULL;

	ck_assert_msg(call_peer(&p, 2000, &ans) == 0, "%s", err.msg);
	ck_assert_str_eq(p.request, "{\"cmd\":\"status\"}");
	ck_assert_int_eq(pvm_json_get_str(ans, "state", &st), 0);
	ck_assert_str_eq(st, "running");
	json_object_put(ans);
}
END_TEST

START_TEST(test_bad_answers)
{
	static const struct {
		const char *answer;
		int code;
		const char *msg;
	} cases[] = {
	    {"{\"ok\":false,\"error\":\"not paused\"}\n", -EPROTO, "not paused"},
	    {"{\"ok\":false}\n", -EPROTO, "unknown error"},
	    {"{\"state\":\"running\"}\n", -EPROTO, "without \"ok\""},
	    {"{\"ok\":\"yes\"}\n", -EPROTO, "without \"ok\""},
	    {"[1,2]\n", -EPROTO, "without \"ok\""},
	    {"garbage\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true,}\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true}{}\n", -EINVAL, "bad answer"},
	    {"\xff\xfe\n", -EINVAL, "bad answer"},
	    {"{\"ok\":true", -ECONNRESET, "closed before answering"},
	};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(cases); i++) {
		struct peer p = {.answer = cases[i].answer};
		json_object *ans = NULL;

		memset(&err, 0, sizeof(err));
		ck_assert_msg(call_peer(&p, 2000, &ans) == cases[i].code, "case %zu: %d %s", i,
			      err.code, err.msg);
		ck_assert_ptr_null(ans);
		ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
	}
}
END_TEST

START_TEST(test_silence_and_absence)
{
	struct peer silent = {.silent = true};
	struct peer closes = {0};
	struct peer huge = {.answer =
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			    .repeat = 20000};
	json_object *ans = NULL;

	ck_assert_int_eq(call_peer(&silent, 200, &ans), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(err.msg, "no answer in 200 ms"));
	ck_assert_int_eq(call_peer(&closes, 2000, &ans), -ECONNRESET);
	ck_assert_int_eq(call_peer(&huge, 5000, &ans), -E2BIG);
	ck_assert_int_eq(pvmd_vmm_call("/nonexistent/vmm.sock", "{}", 100, &ans, &err), -ENOENT);
	ck_assert_int_lt(pvmd_vmm_call("/tmp/a/very/long/path/that/does/not/fit/in/sun_path/of/"
				       "a/unix/socket/address/because/it/is/longer/than/108/bytes",
				       "{}", 100, &ans, &err),
			 0);
	ck_assert_ptr_null(ans);
}
END_TEST

static json_object *parse(const char *s)
{
	json_object *o = NULL;

	ck_assert_msg(pvm_json_parse(s, strlen(s), &pvm_json_default_limits, &o, &err) == 0, "%s",
		      err.msg);
	return o;
}

START_TEST(test_report_from_stats)
{
	json_object *stats = parse(
	    "{\"hooks\":{"
	    "\"console\":{\"negotiated\":true,\"calls\":3,\"doorbells\":2,\"bytes\":300,"
	    "\"errors\":1,\"service_ns_total\":900,\"service_ns_log2\":[0,1,2]},"
	    "\"block\":{\"negotiated\":false,\"calls\":0,\"doorbells\":0,\"bytes\":0,"
	    "\"errors\":0},"
	    "\"halt\":{\"negotiated\":true,\"calls\":0}},"
	    "\"exits_avoided\":{\"console\":298,\"block\":0,\"clock\":0,\"total\":298},"
	    "\"capabilities\":{\"abi_version\":1,\"offered\":[\"console\",\"block\",\"halt\"],"
	    "\"negotiated\":[\"console\",\"halt\"],\"guest_abi_version\":1}}");
	json_object *hs = NULL, *caps = NULL, *e, *v;

	ck_assert_int_eq(pvmd_report_from_stats(stats, &hs, &caps, &err), 0);
	/* block was neither negotiated nor used: not reported */
	ck_assert_uint_eq(json_object_array_length(hs), 2);
	e = json_object_array_get_idx(hs, 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "hook")), "console");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "bytes")), 300);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "exits_avoided")), 298);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "errors")), 1);
	v = json_object_object_get(json_object_object_get(e, "histogram"), "service_ns_log2");
	ck_assert_uint_eq(json_object_array_length(v), 3);
	ck_assert_uint_eq(json_object_array_length(caps), 3);
	e = json_object_array_get_idx(caps, 1);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "name")), "block");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "state")), "refused");
	ck_assert_ptr_nonnull(json_object_object_get(e, "reason"));
	e = json_object_array_get_idx(caps, 2);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "state")), "accepted");
	json_object_put(hs);
	json_object_put(caps);
	json_object_put(stats);

	/* an emulated guest never negotiated: no capabilities */
	stats = parse("{\"hooks\":{},\"capabilities\":{\"offered\":[\"console\"],"
		      "\"negotiated\":[],\"guest_abi_version\":0}}");
	ck_assert_int_eq(pvmd_report_from_stats(stats, &hs, &caps, &err), 0);
	ck_assert_uint_eq(json_object_array_length(hs), 0);
	ck_assert_uint_eq(json_object_array_length(caps), 0);
	json_object_put(hs);
	json_object_put(caps);
	json_object_put(stats);

	/* not a VMM's statistics */
	stats = parse("{\"hooks\":[]}");
	ck_assert_int_eq(pvmd_report_from_stats(stats, &hs, &caps, &err), -EPROTO);
	json_object_put(stats);
	ck_assert_int_eq(pvmd_report_from_stats(NULL, &hs, &caps, &err), -EPROTO);
}
END_TEST

START_TEST(test_report_exits_and_agent)
{
	json_object *stats = parse("{\"exits\":{\"io\":4103,\"hlt\":0,\"total\":4103}}");
	json_object *o, *agent, *v;

	o = pvmd_report_exits(stats);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(o, "io")), 4103);
	ck_assert_int_eq(json_object_object_length(o), 3);
	json_object_put(o);
	json_object_put(stats);
	stats = parse("{\"hooks\":{}}");
	ck_assert_ptr_null(pvmd_report_exits(stats));
	json_object_put(stats);

	/* before the hello there is nothing to relay */
	agent = parse("{\"state\":\"waiting\",\"hello\":null,\"report\":null}");
	ck_assert_ptr_null(pvmd_report_agent(agent));
	json_object_put(agent);
	/* the relay keeps what the controller takes and drops what a guest mis-named */
	agent =
	    parse("{\"protocol_version\":1,\"state\":\"connected\",\"syncing\":false,"
		  "\"hello\":{\"agent_version\":\"1.0\",\"protocol_min\":1,\"protocol_max\":1,"
		  "\"guest_kind\":\"microguest\",\"os\":\"pvm\",\"boot_id\":\"b\",\"age_ms\":5},"
		  "\"negotiation\":{\"status\":\"accepted\",\"pv_abi_version\":1,\"offered\":["
		  "\"console\"],"
		  "\"accepted\":[\"console\"],\"refused\":[],\"kvm\":{},\"age_ms\":4},"
		  "\"report\":{\"report_no\":2,\"interval_ms\":100,\"uptime_ns\":9,\"age_ms\":1,"
		  "\"stale\":true,\"hooks\":{\"console\":{\"calls\":3,\"cycles\":30,"
		  "\"cycles_per_call\":10,\"bytes\":12,\"errors\":0}},"
		  "\"counters\":{\"console_bytes\":12,\"Bad Name\":1}},\"counters\":{}}");
	o = pvmd_report_agent(agent);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "state")), "connected");
	ck_assert(json_object_get_boolean(json_object_object_get(o, "stale")));
	ck_assert(!json_object_object_get_ex(json_object_object_get(o, "hello"), "age_ms", NULL));
	/* the kernel's KVM pv features go up; the session's ages do not */
	ck_assert(json_object_object_get_ex(json_object_object_get(o, "negotiation"), "kvm", NULL));
	ck_assert(
	    !json_object_object_get_ex(json_object_object_get(o, "negotiation"), "age_ms", NULL));
	v = json_object_object_get(json_object_object_get(o, "report"), "hooks");
	v = json_object_object_get(v, "console");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(v, "calls")), 3);
	ck_assert(!json_object_object_get_ex(v, "cycles_per_call", NULL));
	v = json_object_object_get(json_object_object_get(o, "report"), "counters");
	ck_assert_int_eq(json_object_object_length(v), 1);
	ck_assert(!json_object_object_get_ex(o, "protocol_version", NULL));
	json_object_put(o);
	json_object_put(agent);
}
END_TEST

START_TEST(test_kvm_features)
{
	json_object *a = NULL;
	bool clocksource = false;

	ck_assert_int_eq(pvmd_kvm_pv_features(&a, &err), 0);
	ck_assert(json_object_is_type(a, json_type_array));
	for (size_t i = 0; i < json_object_array_length(a); i++)
		clocksource |=
		    !strcmp(json_object_get_string(json_object_array_get_idx(a, i)), "clocksource");
	/* Every KVM offers kvm-clock; without /dev/kvm the list is empty. */
	ck_assert(access("/dev/kvm", R_OK | W_OK) == 0 ? clocksource
						       : json_object_array_length(a) == 0);
	json_object_put(a);
}
END_TEST

static bool has_name(json_object *arr, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), name))
			return true;
	return false;
}

/* What a host offers: auto adds kvm where it works and always process; a
 * forced platform alone; another name is a configuration error. */
START_TEST(test_host_platforms)
{
	bool kvm = hv_platform_probe() == HV_PLATFORM_KVM;
	json_object *a = NULL;

	ck_assert_int_eq(pvmd_host_platforms(NULL, &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), kvm ? 2 : 1);
	ck_assert(has_name(a, "process"));
	ck_assert(has_name(a, "kvm") == kvm);
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("auto", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), kvm ? 2 : 1);
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("process", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), 1);
	ck_assert(has_name(a, "process"));
	json_object_put(a);
	ck_assert_int_eq(pvmd_host_platforms("kvm", &a, &err), 0);
	ck_assert_uint_eq(json_object_array_length(a), 1);
	ck_assert(has_name(a, "kvm"));
	json_object_put(a);
	a = NULL;
	ck_assert_int_eq(pvmd_host_platforms("xen", &a, &err), -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_str_eq(err.field, "platform");
}
END_TEST

/* The report names the platform the VMM's statistics name, when it is one. */
START_TEST(test_report_platform)
{
	static const char *const cases[][2] = {
	    {"{\"platform\":\"process\",\"hooks\":{}}", "process"},
	    {"{\"platform\":\"kvm\"}", "kvm"},
	    {"{\"platform\":\"auto\"}", NULL},
	    {"{\"platform\":\"xen\"}", NULL},
	    {"{\"platform\":7}", NULL},
	    {"{\"hooks\":{}}", NULL},
	};

	for (size_t i = 0; i < PVM_ARRAY_SIZE(cases); i++) {
		json_object *stats = parse(cases[i][0]), *o = pvmd_report_platform(stats);

		if (cases[i][1])
			ck_assert_str_eq(json_object_get_string(o), cases[i][1]);
		else
			ck_assert_ptr_null(o);
		json_object_put(o);
		json_object_put(stats);
	}
	ck_assert_ptr_null(pvmd_report_platform(NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon_vmm_ctl");
	TCase *tc = tcase_create("ctl");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ok);
	tcase_add_test(tc, test_bad_answers);
	tcase_add_test(tc, test_silence_and_absence);
	tcase_add_test(tc, test_report_from_stats);
	tcase_add_test(tc, test_report_exits_and_agent);
	tcase_add_test(tc, test_kvm_features);
	tcase_add_test(tc, test_host_platforms);
	tcase_add_test(tc, test_report_platform);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
