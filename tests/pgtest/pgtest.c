/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tests/pgtest/pgtest.h"

static char admin_uri[PGTEST_URI_MAX];

int pgtest_init(const char **admin)
{
	const char *file = getenv("PVM_TEST_PG_FILE");
	FILE *f;

	*admin = NULL;
	if (!file || !*file)
		return 0;
	f = fopen(file, "r");
	if (!f || !fgets(admin_uri, sizeof(admin_uri), f)) {
		printf("SKIP: no PostgreSQL test server (%s missing; see tests/pgtest/pg-server)\n",
		       file);
		if (f)
			fclose(f);
		return 77;
	}
	fclose(f);
	admin_uri[strcspn(admin_uri, "\n")] = '\0';
	*admin = admin_uri;
	return 1;
}

static PGconn *connect_or_say(const char *uri)
{
	PGconn *c = PQconnectdb(uri);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: %s: %s", uri, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static int run(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int st = PQresultStatus(res), ret = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
		ret = -EIO;
	}
	PQclear(res);
	return ret;
}

/* The database name in a URI this file made: postgresql:///NAME?... */
static void db_name(const char *uri, char *name, size_t len)
{
	const char *p = uri + strlen("postgresql:///");
	size_t n;

	n = strcspn(p, "?");
	snprintf(name, len, "%.*s", (int)n, p);
}

int pgtest_db_create(const char *admin, char *uri, size_t len)
{
	static int counter;
	const char *query = strchr(admin, '?');
	char name[64], sql[128];
	PGconn *c;
	int ret;

	snprintf(name, sizeof(name), "pvmt_%ld_%d", (long)getpid(), ++counter);
	if ((size_t)snprintf(uri, len, "postgresql:///%s%s", name, query ? query : "") >= len)
		return -ENAMETOOLONG;
	c = connect_or_say(admin);
	if (!c)
		return -EIO;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	ret = run(c, sql);
	if (ret == 0) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
		ret = run(c, sql);
	}
	PQfinish(c);
	return ret;
}

void pgtest_db_drop(const char *admin, const char *uri)
{
	char name[64], sql[128];
	PGconn *c;

	db_name(uri, name, sizeof(name));
	c = connect_or_say(admin);
	if (!c)
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	run(c, sql);
	PQfinish(c);
}

int pgtest_exec(const char *uri, const char *sql)
{
	PGconn *c = connect_or_say(uri);
	int ret;

	if (!c)
		return -EIO;
	ret = run(c, sql);
	PQfinish(c);
	return ret;
}

long long pgtest_int(const char *uri, const char *sql)
{
	PGconn *c = connect_or_say(uri);
	long long v = -1;
	PGresult *res;

	if (!c)
		return -1;
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return v;
}
