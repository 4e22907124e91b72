/* SPDX-License-Identifier: MIT */
/*
 * The host role's REST client: one reused libcurl handle (keep-alive, so a
 * batch of reports shares one connection), bearer token, JSON both ways,
 * answers parsed strictly, aborted promptly when pvmd is asked to stop.
 * It may know several controllers of one fleet: it talks to one and moves
 * to the next when that one cannot be reached or answers 503, and stays
 * with whichever answers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "daemon/host.h"

#define ANSWER_MAX (8 * 1024 * 1024)
/* Controllers one --controller may list; more is a typo, not a fleet. */
#define CONTROLLERS_MAX 8

struct pvmd_client {
	CURL *curl;
	char *base[CONTROLLERS_MAX]; /* each controller's API root, no trailing slash */
	size_t nbase, cur;	     /* base[cur] gets the next call */
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

/*
 * "http://a:7070,http://b:7070" into c->base: every URL http:// or https://
 * with a host, none empty, no spaces, at most CONTROLLERS_MAX.
 */
static int parse_controllers(struct pvmd_client *c, const char *list, struct pvm_err *err)
{
	const char *p = list ? list : "";

	for (;;) {
		size_t len = strcspn(p, ","), scheme = 0;
		char *url;

		if (strncmp(p, "http://", 7) == 0)
			scheme = 7;
		else if (strncmp(p, "https://", 8) == 0)
			scheme = 8;
		if (c->nbase == CONTROLLERS_MAX)
			return pvm_err_field(err, -EINVAL, "controller",
					     "more than %d controller URLs", CONTROLLERS_MAX);
		if (!len)
			return pvm_err_field(err, -EINVAL, "controller",
					     "controller URL %zu is empty (a comma too many?)",
					     c->nbase + 1);
		if (strcspn(p, " \t") < len)
			return pvm_err_field(err, -EINVAL, "controller",
					     "'%.*s' has a space; separate URLs with a comma alone",
					     (int)len, p);
		if (!scheme || len <= scheme || p[scheme] == '/')
			return pvm_err_field(err, -EINVAL, "controller",
					     "'%.*s': a controller URL is http:// or https:// and "
					     "a host",
					     (int)len, p);
		url = strndup(p, len);
		if (!url)
			return pvm_err_set(err, -ENOMEM, "out of memory");
		/* "http://x/" and "http://x" name the same API root. */
		while (url[strlen(url) - 1] == '/')
			url[strlen(url) - 1] = '\0';
		c->base[c->nbase++] = url;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int pvmd_client_open(const char *base, const char *token, volatile sig_atomic_t *stop,
		     struct pvmd_client **out, struct pvm_err *err)
{
	static bool global_done;
	struct pvmd_client *c;
	size_t blen;
	int ret;

	if (!token || !*token || strpbrk(token, "\r\n"))
		return pvm_err_field(err, -EINVAL, "token", "a host token is required");
	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	ret = parse_controllers(c, base, err);
	if (ret < 0)
		goto fail;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	c->stop = stop;
	pvm_buf_init(&c->in);
	c->curl = curl_easy_init();
	blen = strlen(token) + 32;
	c->auth = malloc(blen);
	if (!c->curl || !c->auth) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(c->auth, blen, "Authorization: Bearer %s", token);
	*out = c;
	return 0;
fail:
	pvmd_client_close(c);
	return ret;
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
	for (size_t i = 0; i < c->nbase; i++)
		free(c->base[i]);
	pvm_buf_free(&c->in);
	free(c);
}

/* No answer from this controller (refused, reset, timed out, not in DNS, the
 * TLS handshake cut): another may give one. */
static bool unreachable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE ||
	       rc == CURLE_SSL_CONNECT_ERROR;
}

/* One attempt at base[cur]; *status 0 when no answer came. */
static CURLcode perform(struct pvmd_client *c, const char *method, const char *path,
			struct curl_slist *hdrs, const char *text, unsigned timeout_s, long *status)
{
	char url[2048];
	CURLcode rc;

	*status = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base[c->cur], path) >= sizeof(url))
		return CURLE_URL_MALFORMAT;
	pvm_buf_reset(&c->in);
	curl_easy_reset(c->curl);
	if (text)
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
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
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	return rc;
}

int pvmd_client_call(struct pvmd_client *c, const char *method, const char *path, json_object *body,
		     unsigned timeout_s, long *status, json_object **ans, struct pvm_err *err)
{
	struct curl_slist *hdrs = NULL;
	const char *text = NULL;
	bool failed;
	size_t at;
	CURLcode rc;
	int ret = 0;

	*ans = NULL;
	*status = 0;
	hdrs = curl_slist_append(hdrs, c->auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body) {
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	}
	if (!hdrs)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	/*
	 * Each controller once, from the one that answered last; each attempt
	 * has the whole timeout, so one that accepts and never answers costs
	 * one timeout, not the call. What does not answer, or answers 503 (cut
	 * off from its store, stopping) or 421 (not the one to ask), hands the
	 * call to the next, which later calls keep using.
	 */
	for (size_t n = 1;; n++) {
		rc = perform(c, method, path, hdrs, text, timeout_s, status);
		failed = unreachable(rc) || (rc == CURLE_OK && (*status == 503 || *status == 421));
		at = c->cur;
		/* This call's next attempt, or the next call, goes to the next one. */
		if (failed)
			c->cur = (c->cur + 1) % c->nbase;
		if (!failed || n >= c->nbase || (c->stop && *c->stop))
			break;
		if (rc == CURLE_OK)
			pvm_log_warn("controller %s: %s %s: HTTP %ld; trying %s", c->base[at],
				     method, path, *status, c->base[c->cur]);
		else
			pvm_log_warn("controller %s: %s %s: %s; trying %s", c->base[at], method,
				     path, curl_easy_strerror(rc), c->base[c->cur]);
	}
	curl_slist_free_all(hdrs);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return pvm_err_set(err, -EINTR, "%s %s: interrupted", method, path);
	if (rc == CURLE_URL_MALFORMAT)
		return pvm_err_set(err, -ENAMETOOLONG, "URL too long: %s", path);
	if (rc != CURLE_OK)
		return pvm_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED,
				   "%s %s%s: %s", method, c->base[at], path,
				   curl_easy_strerror(rc));
	if (c->in.failed)
		return pvm_err_set(err, -ENOMEM, "%s %s: answer too large", method, path);
	if (c->in.len > 0) {
		ret = pvm_json_parse(c->in.data, c->in.len, &answer_limits, ans, err);
		if (ret < 0)
			pvm_err_prefix(err, "%s %s: bad answer (HTTP %ld)", method, path, *status);
	}
	return ret;
}
