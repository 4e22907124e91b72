/* SPDX-License-Identifier: MIT */
/*
 * The host role's controller list (`--controller URL[,URL...]`): parsed by
 * pvmd_client_open, every mistake refused as a configuration error naming
 * the URL and what is wrong with it; a call that no controller answers
 * fails naming the last one tried.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/host.h"

START_TEST(controller_lists_parsed_or_refused)
{
	static const struct {
		const char *list, *msg;
	} bad[] = {
	    {"http://a:1,,http://b:1", "controller URL 2 is empty"},
	    {"http://a:1,", "controller URL 2 is empty"},
	    {"", "controller URL 1 is empty"},
	    {"http://a:1,ftp://b:1", "'ftp://b:1': a controller URL is http:// or https://"},
	    {"a:1", "'a:1': a controller URL is http:// or https://"},
	    {"http://a:1, http://b:1", "' http://b:1' has a space"},
	    {"http://a:1,https://",
	     "'https://': a controller URL is http:// or https:// and a host"},
	    {"http://a,http://b,http://c,http://d,http://e,http://f,http://g,http://h,http://i",
	     "more than 8 controller URLs"},
	};
	struct pvmd_client *c = NULL;
	struct pvm_err err = {0};

	ck_assert_int_eq(
	    pvmd_client_open("http://a:1/,https://b:2,http://c:3", "t", NULL, &c, &err), 0);
	pvmd_client_close(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		pvm_err_clear(&err);
		ck_assert_int_eq(pvmd_client_open(bad[i].list, "t", NULL, &c, &err), -EINVAL);
		ck_assert_msg(strstr(err.msg, bad[i].msg), "'%s': '%s', wanted '%s'", bad[i].list,
			      err.msg, bad[i].msg);
		ck_assert_str_eq(err.field, "controller");
		ck_assert_ptr_null(c);
	}
	ck_assert_int_eq(pvmd_client_open(NULL, "t", NULL, &c, &err), -EINVAL);
}
END_TEST

/* A loopback port bound but never listened on: connecting is refused. */
static int dead_port(int *fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

START_TEST(nobody_answers)
{
	int fa, fb, a = dead_port(&fa), b = dead_port(&fb);
	struct pvmd_client *c = NULL;
	struct pvm_err err = {0};
	json_object *ans = NULL;
	char list[64], last[32];
	long status = -1;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d,http://127.0.0.1:%d", a, b);
	snprintf(last, sizeof(last), "127.0.0.1:%d/v1/x", b);
	ck_assert_int_eq(pvmd_client_open(list, "t", NULL, &c, &err), 0);
	ck_assert_int_eq(pvmd_client_call(c, "GET", "/v1/x", NULL, 5, &status, &ans, &err),
			 -ECONNREFUSED);
	ck_assert_msg(strstr(err.msg, last), "%s", err.msg);
	ck_assert_int_eq(status, 0);
	ck_assert_ptr_null(ans);
	pvmd_client_close(c);
	close(fa);
	close(fb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("host_client");
	TCase *tc = tcase_create("client");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, controller_lists_parsed_or_refused);
	tcase_add_test(tc, nobody_answers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
