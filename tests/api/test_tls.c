/* SPDX-License-Identifier: MIT */
/* --tls-cert/--tls-key: HTTPS through libmicrohttpd's GnuTLS. */
#include <check.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/api/harness.h"

static char cert_path[] = "/tmp/pvm-api-tls-cert-XXXXXX";
static char key_path[] = "/tmp/pvm-api-tls-key-XXXXXX";

static void write_datum(char *tmpl, const gnutls_datum_t *d)
{
	int fd = mkstemp(tmpl);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, d->data, d->size), (ssize_t)d->size);
	close(fd);
}

/* A self-signed certificate for 127.0.0.1, made here so the test needs no tool. */
static void make_cert(void)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	unsigned char serial[] = {1};
	unsigned char ip[] = {127, 0, 0, 1};
	time_t now = time(NULL);

	ck_assert_int_eq(gnutls_x509_privkey_init(&key), 0);
	ck_assert_int_eq(
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	    0);
	ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, now - 60);
	gnutls_x509_crt_set_expiration_time(crt, now + 3600);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "127.0.0.1", 9);
	gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, sizeof(ip),
					     GNUTLS_FSAN_SET);
	ck_assert_int_eq(gnutls_x509_crt_set_key(crt, key), 0);
	ck_assert_int_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
	write_datum(cert_path, &pem);
	gnutls_free(pem.data);
	ck_assert_int_eq(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem), 0);
	write_datum(key_path, &pem);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

START_TEST(https_serves_and_plain_http_does_not)
{
	struct api_config c = {.tls_cert = cert_path, .tls_key = key_path};
	struct th_resp r;
	struct th t;
	char plain[256];

	make_cert();
	th_start(&t, &c);
	ck_assert(strncmp(t.base, "https://", 8) == 0);
	th_req(&t, "GET", "/v1/version", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "api"), "v1");
	th_resp_free(&r);
	snprintf(plain, sizeof(plain), "http://%s", t.base + 8);
	th_req_url(plain, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_ne(r.status, 200);
	th_resp_free(&r);
	th_cleanup(&t);
	unlink(cert_path);
	unlink(key_path);
}
END_TEST

START_TEST(bad_tls_files_are_refused)
{
	struct api_config c = {.listen = "127.0.0.1:0",
			       .tls_cert = "/nonexistent/cert.pem",
			       .tls_key = "/nonexistent/key.pem"};
	struct api_server *srv = NULL;
	struct controller *ctl = NULL;
	struct pvm_err err = {0};
	struct store *st;
	char dir[] = "/tmp/pvm-api-tls-XXXXXX", path[128];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	ck_assert_int_eq(store_open(path, NULL, &st, NULL), 0);
	ck_assert_int_eq(controller_open(&(struct controller_config){.store = st}, &ctl, &err), 0);
	c.store = st;
	c.controller = ctl;
	ck_assert_int_lt(api_server_start(&c, &srv, &err), 0);
	ck_assert_ptr_null(srv);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/cert.pem"));
	c.tls_key = NULL;
	ck_assert_int_lt(api_server_start(&c, &srv, &err), 0);
	ck_assert_str_eq(err.field, "tls-key");
	controller_close(ctl);
	store_close(st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_tls");
	TCase *tc = tcase_create("tls");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_ERROR, PVM_LOG_TEXT);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, https_serves_and_plain_http_does_not);
	tcase_add_test(tc, bad_tls_files_are_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
