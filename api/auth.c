/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens: the store keeps only their hashes. 401 when the token is
 * missing, unknown, revoked or expired (an expired one with its own problem
 * type and RFC 6750 challenge, so a client can tell "get a new token" from
 * "wrong token"); the route table's roles decide 403.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/internal.h"
#include "store/store.h"

static const struct {
	unsigned bit;
	const char *name;
	enum store_token_role store;
} roles[] = {
    {API_ROLE_ADMIN, "admin", STORE_ROLE_ADMIN},
    {API_ROLE_OPERATOR, "operator", STORE_ROLE_OPERATOR},
    {API_ROLE_READER, "reader", STORE_ROLE_READER},
    {API_ROLE_HOST, "host", STORE_ROLE_HOST},
};

const char *api_role_name(unsigned role)
{
	for (size_t i = 0; i < PVM_ARRAY_SIZE(roles); i++)
		if (roles[i].bit == role)
			return roles[i].name;
	return "none";
}

static unsigned from_store(enum store_token_role r)
{
	for (size_t i = 0; i < PVM_ARRAY_SIZE(roles); i++)
		if (roles[i].store == r)
			return roles[i].bit;
	return API_ROLE_NONE;
}

int api_auth(struct api_req *rq, struct api_resp *rs)
{
	const char *h = api_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
	struct store_token tok;
	struct pvm_err err = {0};
	unsigned char digest[32];
	char when[API_RFC3339_MAX];
	const char *secret;
	int ret;

	if (!h)
		return api_problem(rs, 401, API_P_UNAUTHORIZED, NULL,
				   "an Authorization: Bearer token is required"),
		       -EACCES;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return api_problem(rs, 401, API_P_UNAUTHORIZED, NULL,
				   "the Authorization header must use the Bearer scheme"),
		       -EACCES;
	secret = h + 7;
	while (*secret == ' ')
		secret++;
	if (!*secret || strlen(secret) >= STORE_SECRET_MAX)
		return api_problem(rs, 401, API_P_UNAUTHORIZED, NULL, "invalid token"), -EACCES;
	api_tokcache_hash(secret, digest);
	if (api_tokcache_get(rq->srv, digest, rq))
		return 0;
	ret = store_token_authenticate(rq->srv->cfg.store, secret, &tok, &err);
	if (ret == -ENOENT)
		return api_problem(rs, 401, API_P_UNAUTHORIZED, NULL, "invalid token"), -EACCES;
	if (ret == -EKEYREVOKED)
		return api_problem(rs, 401, API_P_UNAUTHORIZED, NULL, "the token was revoked"),
		       -EACCES;
	if (ret == -EKEYEXPIRED) {
		api_problem(rs, 401, API_P_TOKEN_EXPIRED, NULL, "the token %s expired at %s",
			    tok.id, api_rfc3339(tok.expires_ms, when, sizeof(when)));
		rs->www_authenticate =
		    "Bearer error=\"invalid_token\", error_description=\"token expired\"";
		return -EACCES;
	}
	if (ret < 0) {
		pvm_log_error("api: authenticate: %s", err.msg);
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL, "cannot check the token"), ret;
	}
	rq->role = from_store(tok.role);
	rq->token_expires_ms = tok.expires_ms;
	snprintf(rq->token_id, sizeof(rq->token_id), "%s", tok.id);
	snprintf(rq->token_host, sizeof(rq->token_host), "%s", tok.host_id);
	api_tokcache_put(rq->srv, digest, rq);
	return 0;
}

int api_bootstrap_admin(struct store *st, const char *path, bool *created, struct pvm_err *err)
{
	struct store_token tok = {0};
	char secret[STORE_SECRET_MAX];
	int64_t count = 0;
	int fd, ret;

	*created = false;
	ret = store_token_count(st, &count, err);
	if (ret < 0)
		return ret;
	if (count > 0)
		return 0;
	snprintf(tok.name, sizeof(tok.name), "bootstrap-admin");
	tok.role = STORE_ROLE_ADMIN;
	/* Open the file first so a token never exists that nobody can read. */
	fd = pvm_secret_file_open(path, err);
	if (fd < 0)
		return fd;
	ret = store_token_create(st, &tok, secret, err);
	if (ret < 0)
		goto out;
	ret = pvm_secret_file_write(fd, path, secret, err);
	if (ret < 0) {
		store_token_revoke(st, tok.id, 0, NULL);
		goto out;
	}
	*created = true;
out:
	explicit_bzero(secret, sizeof(secret));
	close(fd);
	if (ret < 0)
		unlink(path);
	return ret;
}
