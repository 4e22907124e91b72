/* SPDX-License-Identifier: MIT */
/* A blocking HTTP request over libcurl, for benchmarks that drive the API. */
#include <stdio.h>

#include <curl/curl.h>

#include "bench/common/bench.h"
#include "common/common.h"

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
	struct pvm_buf *b = arg;

	pvm_buf_append(b, p, s * n);
	return s * n;
}

long bench_http(const char *url, const char *token, const char *body, struct pvm_buf *out)
{
	struct curl_slist *h = NULL;
	char auth[160];
	long code = 0;
	CURL *c = curl_easy_init();

	if (!c)
		return 0;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}
