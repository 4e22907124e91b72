/* SPDX-License-Identifier: MIT */
/*
 * The host role's REST client: one reused libcurl handle (keep-alive, so a
 * batch of reports shares one connection), bearer token, JSON both ways,
 * answers parsed strictly, aborted promptly when pvmd is asked to stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "daemon/host.h"

#define ANSWER_MAX (8 * 1024 * 1024)

struct pvmd_client {
	CURL *curl;
	char *base;
	char *auth;
	volatile sig_atomic_t *stop;
	struct pvm_buf in;
};

static const struct pvm_json_limits answer_limits = {.max_bytes = ANSWER_MAX, .max_depth = 32};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct pvmd_client *c = arg;

	if (c->in.len + size * n > ANSWER_MAX || pvm_buf_append(&c->in, p, size * n) < 0)
		return 0;
	return size * n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct pvmd_client *c = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return c->stop && *c->stop ? 1 : 0;
}

int pvmd_client_open(const char *base, const char *token, volatile sig_atomic_t *stop,
		     struct pvmd_client **out, struct pvm_err *err)
{
	static bool global_done;
	struct pvmd_client *c;
	size_t blen;

	if (!base || strncmp(base, "http", 4) != 0)
		return pvm_err_field(err, -EINVAL, "controller",
				     "the controller URL must start with http:// or https://");
	if (!token || !*token || strpbrk(token, "\r\n"))
		return pvm_err_field(err, -EINVAL, "token", "a host token is required");
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	c->stop = stop;
	pvm_buf_init(&c->in);
	c->curl = curl_easy_init();
	c->base = strdup(base);
	blen = strlen(token) + 32;
	c->auth = malloc(blen);
	if (!c->curl || !c->base || !c->auth) {
		pvmd_client_close(c);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	/* "http://x/" and "http://x" name the same API root. */
	if (c->base[0] && c->base[strlen(c->base) - 1] == '/')
		c->base[strlen(c->base) - 1] = '\0';
	snprintf(c->auth, blen, "Authorization: Bearer %s", token);
	*out = c;
	return 0;
}

void pvmd_client_close(struct pvmd_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->auth)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	free(c->base);
	pvm_buf_free(&c->in);
	free(c);
}

int pvmd_client_call(struct pvmd_client *c, const char *method, const char *path, json_object *body,
		     unsigned timeout_s, long *status, json_object **ans, struct pvm_err *err)
{
	struct curl_slist *hdrs = NULL;
	const char *text = NULL;
	char url[2048];
	CURLcode rc;
	int ret = 0;

	*ans = NULL;
	*status = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url))
		return pvm_err_set(err, -ENAMETOOLONG, "URL too long: %s", path);
	pvm_buf_reset(&c->in);
	curl_easy_reset(c->curl);
	hdrs = curl_slist_append(hdrs, c->auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body) {
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
	}
	if (!hdrs)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long)(timeout_s ? timeout_s : 30));
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return pvm_err_set(err, -EINTR, "%s %s: interrupted", method, path);
	if (rc != CURLE_OK)
		return pvm_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED,
				   "%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (c->in.failed)
		return pvm_err_set(err, -ENOMEM, "%s %s: answer too large", method, path);
	if (c->in.len > 0) {
		ret = pvm_json_parse(c->in.data, c->in.len, &answer_limits, ans, err);
		if (ret < 0)
			pvm_err_prefix(err, "%s %s: bad answer (HTTP %ld)", method, path, *status);
	}
	return ret;
}
