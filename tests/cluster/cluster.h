/* SPDX-License-Identifier: MIT */
/*
 * Several `pvmd --role controller` processes on one store, for the replica
 * tests and the scale-out benchmark: started, found (who leads), killed
 * with real signals; hosts registered through them and kept heartbeating by
 * a thread, as host daemons would. Plain libcurl; no test framework, so a
 * benchmark can use it. Every function returns 0 or a negative errno.
 */
#ifndef PVM_TESTS_CLUSTER_H
#define PVM_TESTS_CLUSTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define CLUSTER_MAX_REPLICAS 4
#define CLUSTER_MAX_HOSTS    16

struct cluster_replica {
	pid_t pid; /* 0: not running */
	char url[64];
	char dir[300];
};

struct cluster {
	char dir[128];	  /* temporary; removed by cluster_stop */
	char store[600];  /* the store every replica opens */
	const char *pvmd; /* path of the pvmd binary */
	unsigned heartbeat_s;
	int n;
	struct cluster_replica rep[CLUSTER_MAX_REPLICAS];
	char admin[128];
	int nhosts;
	char host_ids[CLUSTER_MAX_HOSTS][64];
	pthread_t beats;
	bool beating;
	atomic_bool stop_beats;
};

/*
 * Starts n replicas on store (NULL: one SQLite file in the cluster's
 * directory; "{i}" in it stands for the replica's index, so that each can
 * reach the store its own way) and waits until each answers /readyz; the
 * first creates the schema and the admin token.
 */
int cluster_start(struct cluster *c, const char *pvmd, const char *store, int n,
		  unsigned heartbeat_s);
/* SIGTERM to every replica still running, then removes the directory. */
void cluster_stop(struct cluster *c);
/* (Re)starts replica i with its old directory and a new port. */
int cluster_start_replica(struct cluster *c, int i);
int cluster_wait_ready(struct cluster *c, int i);
/* SIGKILL, reaped. */
void cluster_kill(struct cluster *c, int i);
/* The replica whose /readyz says leader, or -1. */
int cluster_leader(struct cluster *c);

/* One request with the admin token; *status <= 0 when unreachable. body
 * may be NULL; headers NULL-terminated or NULL; *out (may be NULL)
 * malloc'ed. */
int cluster_req(struct cluster *c, int i, const char *method, const char *path, const char *body,
		const char *const *headers, long *status, char **out);

/* Registers n hosts (cpus, memory each) through the replicas in turn and
 * starts the heartbeat thread (every heartbeat_s / 3, through any replica). */
int cluster_hosts(struct cluster *c, int n, int cpus, int memory_mib);

#endif /* PVM_TESTS_CLUSTER_H */
