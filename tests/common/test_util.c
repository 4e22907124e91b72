/* SPDX-License-Identifier: MIT */
/* Errors, the string buffer, number parsing, the platform table, time and log line formats. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/common.h"

START_TEST(test_err_context)
{
	struct pvm_err err = {0};

	ck_assert_int_eq(pvm_err_field(&err, -EINVAL, "/vcpus", "must be positive"), -EINVAL);
	ck_assert_int_eq(pvm_err_prefix(&err, "guest %s", "web-1"), -EINVAL);
	ck_assert_int_eq(pvm_err_prefix(&err, "create"), -EINVAL);
	ck_assert_str_eq(err.msg, "create: guest web-1: must be positive");
	ck_assert_str_eq(err.field, "/vcpus");
	pvm_err_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_int_eq(pvm_err_set(NULL, -EIO, "ignored"), -EIO);
}
END_TEST

START_TEST(test_buf)
{
	struct pvm_buf b;
	char *s;

	pvm_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(pvm_buf_printf(&b, "%d,", i), 0);
	ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
	ck_assert(strstr(b.data, ",999,"));
	ck_assert_uint_eq(b.len, strlen(b.data));
	pvm_buf_reset(&b);
	ck_assert_int_eq(pvm_buf_json_escape(&b, "a\"b\\c\n\x01"), 0);
	ck_assert_str_eq(b.data, "a\\\"b\\\\c\\n\\u0001");
	s = pvm_buf_steal(&b);
	ck_assert_str_eq(s, "a\\\"b\\\\c\\n\\u0001");
	ck_assert_ptr_null(b.data);
	free(s);
	s = pvm_buf_steal(&b);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_parse_int)
{
	int64_t v = 7;

	ck_assert_int_eq(pvm_parse_int("42", 0, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(pvm_parse_int("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(pvm_parse_int("101", 0, 100, &v), -ERANGE);
	ck_assert_int_eq(pvm_parse_int("12x", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(pvm_parse_int("", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(pvm_parse_int("99999999999999999999", 0, INT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(v, -5);
}
END_TEST

/* The platform table: names and bits both ways, and sets as text. */
START_TEST(test_platforms)
{
	char buf[32];

	ck_assert_str_eq(pvm_platform_name(PVM_PLATFORM_KVM), "kvm");
	ck_assert_str_eq(pvm_platform_name(PVM_PLATFORM_PROCESS), "process");
	ck_assert_ptr_null(pvm_platform_name(PVM_PLATFORM_COUNT));
	for (unsigned i = 0; i < PVM_PLATFORM_COUNT; i++)
		ck_assert_int_eq(pvm_platform_id(pvm_platform_name(i)), (int)i);
	ck_assert_int_eq(pvm_platform_id("auto"), -ENOENT);
	ck_assert_int_eq(pvm_platform_id("KVM"), -ENOENT);
	ck_assert_int_eq(pvm_platform_id(NULL), -ENOENT);
	ck_assert_int_eq(pvm_platform_format(PVM_PLATFORMS_ALL, buf, sizeof(buf)), 11);
	ck_assert_str_eq(buf, "kvm,process");
	ck_assert_int_eq(pvm_platform_format(PVM_PLATFORM_BIT(PVM_PLATFORM_PROCESS), buf, 4), 7);
	ck_assert_str_eq(buf, "pro");
	ck_assert_int_eq(pvm_platform_format(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_time)
{
	uint64_t a = pvm_now_ns();

	pvm_sleep_ns(2000000);
	ck_assert_uint_ge(pvm_now_ns() - a, 2000000);
	ck_assert_uint_gt(pvm_wall_ns(), 1600000000ull * 1000000000ull);
}
END_TEST

static char *capture_log(enum pvm_log_format format, const char *msg)
{
	int fds[2];
	char *out = calloc(1, 4096);
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	pvm_log_init("pvm-test", PVM_LOG_INFO, format);
	pvm_log_set_fd(fds[1]);
	pvm_log_debug("hidden at info level");
	pvm_log_warn("%s", msg);
	pvm_log_set_fd(-1);
	close(fds[1]);
	n = read(fds[0], out, 4095);
	ck_assert_int_gt(n, 0);
	close(fds[0]);
	return out;
}

START_TEST(test_log_formats)
{
	enum pvm_log_level level;
	enum pvm_log_format format;
	char *text = capture_log(PVM_LOG_TEXT, "disk full");
	char *json = capture_log(PVM_LOG_JSON, "quote \" and\nnewline");
	json_object *obj = NULL;

	ck_assert_msg(strstr(text, "pvm-test[") && strstr(text, "]: warn: disk full\n"), "%s",
		      text);
	ck_assert(!strstr(text, "hidden"));
	ck_assert_int_eq(pvm_json_parse(json, strlen(json), NULL, &obj, NULL), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(obj, "level")), "warn");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(obj, "msg")),
			 "quote \" and\nnewline");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(obj, "ident")), "pvm-test");
	json_object_put(obj);
	free(text);
	free(json);
	ck_assert_int_eq(pvm_log_parse_level("debug", &level), 0);
	ck_assert_int_eq(level, PVM_LOG_DEBUG);
	ck_assert_int_eq(pvm_log_parse_level("loud", &level), -EINVAL);
	ck_assert_int_eq(pvm_log_parse_format("journal", &format), 0);
	ck_assert_int_eq(format, PVM_LOG_JOURNAL);
	ck_assert_int_eq(pvm_log_parse_format("xml", &format), -EINVAL);
}
END_TEST

START_TEST(test_secret_file)
{
	char dir[] = "/tmp/pvm-secret-XXXXXX", path[64], link[64], buf[64] = {0};
	struct pvm_err err = {0};
	struct stat sb;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	/* a file that was there, readable by all, ends 0600 with only the secret */
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "old old old old\n", 16), 16);
	close(fd);
	chmod(path, 0644);
	fd = pvm_secret_file_open(path, &err);
	ck_assert_msg(fd >= 0, "%s", err.msg);
	ck_assert_int_eq(pvm_secret_file_write(fd, path, "s3cret", &err), 0);
	close(fd);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 7);
	close(fd);
	ck_assert_str_eq(buf, "s3cret\n");
	/* never through a symbolic link */
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(pvm_secret_file_open(link, &err), -ELOOP);
	ck_assert(strstr(err.msg, link));
	unlink(link);
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common_util");
	TCase *tc = tcase_create("util");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_err_context);
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_parse_int);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_platforms);
	tcase_add_test(tc, test_log_formats);
	tcase_add_test(tc, test_secret_file);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
