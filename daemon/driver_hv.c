/* SPDX-License-Identifier: MIT */
/*
 * The hv driver: one confined pvm-vmm process per guest, answering on
 * DIR/guests/ID.sock, console in DIR/guests/ID.log, definitions and processes
 * in DIR/host.db. VMMs outlive pvmd; a new pvmd re-adopts them by pid and
 * kernel start time, and talks to them through their sockets.
 *
 * URI: "[hv://]DIR[?vmm=PATH&hooks=LIST&platform=auto|kvm|process&seccomp=on|off&cgroup=on|off
 * &console_limit=BYTES]". A guest's console log takes at most console_limit bytes a run (16 MiB
 * by default, 0: no limit): a guest must not fill the host's disk. platform= is pvm-vmm's
 * --platform for every guest that names none itself (pvmd_guest_def.platform); without it
 * pvm-vmm picks its own (PVM_PLATFORM, else auto).
 * Without vmm=, pvm-vmm is taken from $PVM_VMM, else beside pvmd's binary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/driver.h"
#include "daemon/vmm.h"
#include "hv/hv.h"

#define START_WAIT_MS	5000
#define CALL_TIMEOUT_MS 2000
#define KILL_GRACE_MS	2000
#define POLL_NS		(1000 * 1000ull) /* how often a starting or stopping VMM is checked */

struct hv_priv {
	char dir[PATH_MAX];
	char vmm[PATH_MAX];
	char hooks[128];
	char platform[16];	/* pvm-vmm --platform; "": pvm-vmm's default */
	char console_limit[24]; /* bytes one VMM run may write to its console log */
	bool cgroups;
	struct pvmd_seccomp *seccomp;
	struct pvmd_hstate *hs;
};

static int id_check(const char *id, struct pvm_err *err)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 63 ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
		return pvm_err_set(err, -EINVAL,
				   "hv: guest id must be 1 to 63 letters, digits, "
				   "'-' or '_'");
	return 0;
}

static void guest_path(const struct hv_priv *p, const char *id, const char *ext, char *out,
		       size_t len)
{
	/* dir and id are bounded at open and define; an empty path fails its use */
	if ((size_t)snprintf(out, len, "%s/guests/%s.%s", p->dir, id, ext) >= len)
		out[0] = '\0';
}

/* pvm-vmm's --hooks, checked with hv's own parser so a bad list fails at open,
 * not at every start. */
static int hooks_check(const char *val, struct pvm_err *err)
{
	uint64_t mask;

	if (strlen(val) >= sizeof(((struct hv_priv *)0)->hooks) ||
	    hv_hooks_parse(val, &mask, err) < 0)
		return pvm_err_set(err, -EINVAL, "hv: hooks=%.128s: want all, none or a list of %s",
				   val, PV_HOOK_NAMES);
	return 0;
}

/* pvm-vmm's --platform, checked with hv's own parser. */
static int platform_check(const char *val, struct pvm_err *err)
{
	enum hv_platform_id id;

	if (strlen(val) >= sizeof(((struct hv_priv *)0)->platform) ||
	    hv_platform_parse(val, &id, err) < 0)
		return pvm_err_set(err, -EINVAL, "hv: platform=%.32s: want auto, kvm or process",
				   val);
	return 0;
}

/* Parses one "key=value" of the URI's query. */
static int hv_option(struct hv_priv *p, char *kv, struct pvm_err *err)
{
	char *val = strchr(kv, '=');

	if (!val)
		return pvm_err_set(err, -EINVAL, "hv: option \"%s\" needs a value", kv);
	*val++ = '\0';
	if (strcmp(kv, "vmm") == 0) {
		snprintf(p->vmm, sizeof(p->vmm), "%s", val);
	} else if (strcmp(kv, "hooks") == 0) {
		if (hooks_check(val, err) < 0)
			return -EINVAL;
		snprintf(p->hooks, sizeof(p->hooks), "%s", val);
	} else if (strcmp(kv, "platform") == 0) {
		if (platform_check(val, err) < 0)
			return -EINVAL;
		snprintf(p->platform, sizeof(p->platform), "%s", val);
	} else if (strcmp(kv, "console_limit") == 0) {
		int64_t v;

		if (pvm_parse_int(val, 0, INT64_MAX, &v) < 0)
			return pvm_err_set(err, -EINVAL,
					   "hv: console_limit=%s: want a number of bytes (0: none)",
					   val);
		snprintf(p->console_limit, sizeof(p->console_limit), "%lld", (long long)v);
	} else if (strcmp(kv, "seccomp") == 0 || strcmp(kv, "cgroup") == 0) {
		bool on = strcmp(val, "on") == 0;

		if (!on && strcmp(val, "off") != 0)
			return pvm_err_set(err, -EINVAL, "hv: %s=%s: want on or off", kv, val);
		if (kv[0] == 's' && !on) {
			pvmd_seccomp_free(p->seccomp);
			p->seccomp = NULL;
		} else if (kv[0] == 'c') {
			p->cgroups = on;
		}
	} else {
		return pvm_err_set(err, -EINVAL, "hv: unknown option \"%s\"", kv);
	}
	return 0;
}

static int default_vmm(struct hv_priv *p, struct pvm_err *err)
{
	const char *env = getenv("PVM_VMM");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(p->vmm, sizeof(p->vmm), "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return pvm_err_set(err, -errno, "hv: where is pvm-vmm? pass vmm=PATH");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(p->vmm, sizeof(p->vmm), "%.*s/pvm-vmm", PATH_MAX - 16, self);
	return 0;
}

static void hv_close(void *priv)
{
	struct hv_priv *p = priv;

	if (!p)
		return;
	pvmd_hstate_close(p->hs);
	pvmd_seccomp_free(p->seccomp);
	free(p);
}

/*
 * The state folders hold guests' sockets, disks and host.db, and pvmd
 * re-adopts whatever VMM answers there: a folder someone else owns or may
 * write to (left over, pre-created by another user) is refused, not used.
 */
static int own_dir(const char *path, struct pvm_err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return pvm_err_set(err, -errno, "hv: %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pvm_err_set(err, -ENOTDIR, "hv: %s is not a directory", path);
	if (st.st_uid != geteuid())
		return pvm_err_set(
		    err, -EPERM, "hv: %s belongs to uid %u, not to this pvmd (uid %u): refusing it",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return pvm_err_set(err, -EPERM,
				   "hv: %s is writable by others (mode %03o): refusing it; "
				   "chmod go-w it",
				   path, (unsigned)(st.st_mode & 0777));
	return 0;
}

static int hv_open(const char *uri, void **out, struct pvm_err *err)
{
	struct hv_priv *p;
	char *copy = NULL, *q, *kv, *save = NULL;
	char path[PATH_MAX + 16];
	int ret;

	if (!uri || !*uri)
		return pvm_err_set(err, -EINVAL, "hv: the driver needs a state directory");
	if (strncmp(uri, "hv://", 5) == 0)
		uri += 5;
	p = calloc(1, sizeof(*p));
	copy = strdup(uri);
	if (!p || !copy) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(p->hooks, sizeof(p->hooks), "all");
	snprintf(p->console_limit, sizeof(p->console_limit), "%d", 16 << 20);
	p->cgroups = true;
	ret = pvmd_seccomp_build(&p->seccomp, err);
	if (ret < 0)
		goto fail;
	q = strchr(copy, '?');
	if (q)
		*q++ = '\0';
	for (kv = q ? strtok_r(q, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
		ret = hv_option(p, kv, err);
		if (ret < 0)
			goto fail;
	}
	if (strlen(copy) >= sizeof(p->dir) - 64) {
		ret = pvm_err_set(err, -ENAMETOOLONG, "hv: directory name too long");
		goto fail;
	}
	snprintf(p->dir, sizeof(p->dir), "%s", copy);
	if (!p->vmm[0] && (ret = default_vmm(p, err)) < 0)
		goto fail;
	if (access(p->vmm, X_OK) < 0) {
		ret = pvm_err_set(err, -errno, "hv: pvm-vmm %s: %s", p->vmm, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/guests", p->dir);
	if ((mkdir(p->dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(path, 0700) < 0 && errno != EEXIST)) {
		ret = pvm_err_set(err, -errno, "hv: %s: %s", path, strerror(errno));
		goto fail;
	}
	ret = own_dir(p->dir, err);
	if (ret == 0)
		ret = own_dir(path, err);
	if (ret < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/host.db", p->dir);
	ret = pvmd_hstate_open(path, &p->hs, err);
	if (ret < 0)
		goto fail;
	free(copy);
	*out = p;
	return 0;
fail:
	free(copy);
	hv_close(p);
	return ret;
}

/*
 * A guest that asks for disk_gib and names no disk gets a sparse scratch disk
 * beside its socket, as Firecracker's scratch drives and Nova's ephemeral
 * disks: it takes host space only as the guest writes, and goes with the
 * guest at undefine.
 */
static int scratch_disk(const char *path, uint64_t gib, struct pvm_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int ret = 0;

	if (fd < 0)
		return pvm_err_set(err, -errno, "scratch disk %s: %s", path, strerror(errno));
	if (gib > (uint64_t)INT64_MAX >> 30 || ftruncate(fd, (off_t)(gib << 30)) < 0) {
		ret = pvm_err_set(err, gib > (uint64_t)INT64_MAX >> 30 ? -EFBIG : -errno,
				  "scratch disk %s of %llu GiB: %s", path, (unsigned long long)gib,
				  strerror(errno));
		unlink(path);
	}
	close(fd);
	return ret;
}

static int hv_define(void *priv, const struct pvmd_guest_def *def, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g = {0};
	char sock[PATH_MAX + 80], disk[PATH_MAX + 80];
	int ret;

	ret = id_check(def->id, err);
	if (ret < 0)
		return ret;
	ret = pvmd_guest_name_check(def->name, err);
	if (ret < 0)
		return ret;
	if (def->vcpus == 0 || def->memory_mib == 0)
		return pvm_err_set(err, -EINVAL, "guest %s needs vcpus and memory", def->id);
	if (!def->image || access(def->image, R_OK) < 0)
		return pvm_err_field(err, -ENOENT, "/image", "guest %s: image %s: %s", def->id,
				     def->image ? def->image : "(none)",
				     def->image ? strerror(errno) : "an image is required");
	if (def->platform && (ret = platform_check(def->platform, err)) < 0) {
		pvm_err_prefix(err, "guest %s", def->id);
		return ret;
	}
	guest_path(p, def->id, "sock", sock, sizeof(sock));
	if (strlen(sock) >= 108)
		return pvm_err_set(err, -ENAMETOOLONG, "hv: socket path %s is too long", sock);
	if (!def->disk && def->disk_gib) {
		guest_path(p, def->id, "disk", disk, sizeof(disk));
		ret = scratch_disk(disk, def->disk_gib, err);
		if (ret < 0)
			return pvm_err_prefix(err, "guest %s", def->id);
		g.disk = disk;
	} else {
		g.disk = (char *)def->disk;
	}
	snprintf(g.id, sizeof(g.id), "%s", def->id);
	snprintf(g.name, sizeof(g.name), "%s", def->name);
	g.vcpus = def->vcpus;
	g.memory_mib = def->memory_mib;
	g.image = (char *)def->image;
	g.cmdline = (char *)def->cmdline;
	if (def->platform)
		snprintf(g.platform, sizeof(g.platform), "%s", def->platform);
	ret = pvmd_hstate_add(p->hs, &g, err);
	if (ret < 0 && g.disk == disk)
		unlink(disk);
	return ret;
}

/*
 * The statistics a VMM wrote to its --stats-json file when it exited;
 * -ENOENT when it left none (killed, or still running).
 */
static int read_final_stats(struct hv_priv *p, const char *id, json_object **out,
			    struct pvm_err *err)
{
	char path[PATH_MAX + 80], *buf = NULL;
	struct stat sb;
	ssize_t n;
	int fd, ret;

	*out = NULL;
	guest_path(p, id, "stats.json", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pvm_err_set(err, -errno, "guest %s left no statistics: %s", id,
				   strerror(errno));
	if (fstat(fd, &sb) < 0 || sb.st_size <= 0 ||
	    (size_t)sb.st_size > pvm_json_default_limits.max_bytes) {
		ret = pvm_err_set(err, -EPROTO, "guest %s: %s is empty or too large", id, path);
		goto out;
	}
	buf = malloc((size_t)sb.st_size);
	if (!buf) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = read(fd, buf, (size_t)sb.st_size);
	if (n != sb.st_size) {
		ret = pvm_err_set(err, -EIO, "guest %s: short read of %s", id, path);
		goto out;
	}
	ret = pvm_json_parse(buf, (size_t)n, &pvm_json_default_limits, out, err);
	if (ret == 0 && !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		ret = pvm_err_set(err, -EPROTO, "guest %s: %s is not an object", id, path);
	}
out:
	free(buf);
	close(fd);
	return ret;
}

/*
 * The exit code an adopted VMM (not pvmd's child, so never reaped here) left
 * in its --stats-json file; -1 when it left none (killed, or still running).
 */
static int final_exit_code(struct hv_priv *p, const char *id)
{
	json_object *o = NULL;
	int64_t code = -1;

	if (read_final_stats(p, id, &o, NULL) == 0)
		pvm_json_get_int(o, "exit_code", &code);
	json_object_put(o);
	return code >= 0 && code <= 255 ? (int)code : -1;
}

/* Is g's VMM alive? Records how it ended when it has just ended. */
static bool hv_alive(struct hv_priv *p, struct pvmd_hguest *g)
{
	int status;
	bool alive = pvmd_proc_alive(g->pid, g->starttime, &status);

	if (!alive && status == -1 && g->pid && g->exit_status == -1) {
		int code = final_exit_code(p, g->id);

		if (code >= 0)
			status = W_EXITCODE(code, 0);
	}

	if (!alive && status != -1 && g->exit_status != status) {
		g->exit_status = status;
		pvmd_hstate_set_proc(p->hs, g, NULL);
		if (p->cgroups)
			pvmd_cgroup_remove(g->id);
	}
	return alive;
}

static int hv_status(struct hv_priv *p, const char *id, unsigned timeout_ms, json_object **ans,
		     struct pvm_err *err)
{
	char sock[PATH_MAX + 80];

	guest_path(p, id, "sock", sock, sizeof(sock));
	return pvmd_vmm_call(sock, "{\"cmd\":\"status\"}", timeout_ms, ans, err);
}

/* The last line of the console log: why a VMM refused to start. */
static void log_tail(const char *path, char *out, size_t len)
{
	char buf[512];
	FILE *fp = fopen(path, "re");
	long size;
	size_t n;
	char *end, *start;

	out[0] = '\0';
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && end[-1] == '\n')
		*--end = '\0';
	start = strrchr(buf, '\n');
	snprintf(out, len, "%.*s", (int)len - 1, start ? start + 1 : buf);
}

static int hv_spawn(struct hv_priv *p, struct pvmd_hguest *g, struct pvm_err *err)
{
	char sock[PATH_MAX + 80], logp[PATH_MAX + 80], stats[PATH_MAX + 80], cg[PATH_MAX];
	char mem[24], vcpus[16], *argv[24];
	struct pvmd_spawn sp = {0};
	uint64_t deadline;
	int n = 0, ret;

	guest_path(p, g->id, "sock", sock, sizeof(sock));
	guest_path(p, g->id, "log", logp, sizeof(logp));
	/* The previous run's statistics would tell a wrong exit code. */
	guest_path(p, g->id, "stats.json", stats, sizeof(stats));
	unlink(stats);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)g->memory_mib);
	snprintf(vcpus, sizeof(vcpus), "%u", g->vcpus);
	argv[n++] = p->vmm;
	argv[n++] = "run";
	argv[n++] = "--image";
	argv[n++] = g->image;
	argv[n++] = "--mem";
	argv[n++] = mem;
	argv[n++] = "--vcpus";
	argv[n++] = vcpus;
	if (g->disk) {
		argv[n++] = "--disk";
		argv[n++] = g->disk;
	}
	if (g->cmdline) {
		argv[n++] = "--cmdline";
		argv[n++] = g->cmdline;
	}
	argv[n++] = "--hooks";
	argv[n++] = p->hooks;
	if (g->platform[0] || p->platform[0]) {
		argv[n++] = "--platform";
		argv[n++] = g->platform[0] ? g->platform : p->platform;
	}
	argv[n++] = "--api-sock";
	argv[n++] = sock;
	argv[n++] = "--stats-json";
	argv[n++] = stats;
	argv[n++] = "--console-limit";
	argv[n++] = p->console_limit;
	argv[n] = NULL;
	cg[0] = '\0';
	if (p->cgroups)
		pvmd_cgroup_prepare(g->id, g->memory_mib, g->vcpus, cg, sizeof(cg));
	sp.argv = argv;
	sp.log_path = logp;
	sp.seccomp = p->seccomp;
	sp.cgroup = cg;
	ret = pvmd_spawn(&sp, &g->pid, err);
	if (ret < 0)
		return pvm_err_prefix(err, "guest %s", g->id);
	g->starttime = pvmd_proc_starttime(g->pid);
	g->exit_status = -1;
	g->stopping = false;
	ret = pvmd_hstate_set_proc(p->hs, g, err);
	if (ret < 0) {
		/* A VMM pvmd cannot remember would be started twice: do not keep it. */
		kill(-g->pid, SIGKILL);
		waitpid(g->pid, NULL, 0);
		return ret;
	}
	pvm_log_info("guest %s: pvm-vmm started, pid %d", g->id, (int)g->pid);
	/* Started means answering on its socket. A VMM that exits first failed,
	 * unless its guest ran to its end before the first look: a short
	 * workload leaves its final statistics behind. */
	deadline = pvm_now_ns() + START_WAIT_MS * 1000000ull;
	while (pvm_now_ns() < deadline) {
		json_object *ans = NULL;

		if (!hv_alive(p, g)) {
			char tail[256];

			if (read_final_stats(p, g->id, &ans, NULL) == 0) {
				json_object_put(ans);
				return 0;
			}

			log_tail(logp, tail, sizeof(tail));
			return pvm_err_set(
			    err, -EIO, "guest %s: pvm-vmm exited (status %d): %s", g->id,
			    WIFEXITED(g->exit_status) ? WEXITSTATUS(g->exit_status) : -1, tail);
		}
		if (hv_status(p, g->id, 500, &ans, NULL) == 0) {
			json_object_put(ans);
			return 0;
		}
		pvm_sleep_ns(POLL_NS);
	}
	/* never answered: not started, whatever it is doing; it goes */
	kill(-g->pid, SIGKILL);
	deadline = pvm_now_ns() + KILL_GRACE_MS * 1000000ull;
	while (hv_alive(p, g) && pvm_now_ns() < deadline)
		pvm_sleep_ns(POLL_NS);
	return pvm_err_set(err, -ETIMEDOUT,
			   "guest %s: pvm-vmm did not answer on its socket within %d ms (killed)",
			   g->id, START_WAIT_MS);
}

/* Whether process pid's command line names sock (a VMM's --api-sock). */
static bool names_sock(pid_t pid, const char *sock)
{
	char path[64], cmd[PATH_MAX + 128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	return strstr(cmd, sock) != NULL;
}

/*
 * A VMM already serving this guest's socket though host.db does not name it
 * (pvmd died between fork and recording the pid): adopt it rather than
 * start a second one, which would take its socket over.
 */
static bool adopt_unrecorded(struct hv_priv *p, struct pvmd_hguest *g)
{
	char sock[PATH_MAX + 80];
	pid_t pid;

	guest_path(p, g->id, "sock", sock, sizeof(sock));
	pid = pvmd_vmm_peer_pid(sock);
	/* Only a pvm-vmm serving this very socket (its argv says so). */
	if (pid <= 0 || !names_sock(pid, sock))
		return false;
	g->pid = pid;
	g->starttime = pvmd_proc_starttime(pid);
	g->exit_status = -1;
	g->stopping = false;
	if (pvmd_hstate_set_proc(p->hs, g, NULL) < 0)
		return false;
	pvm_log_warn("guest %s: adopted pvm-vmm %d, which host.db did not name", g->id, (int)pid);
	return true;
}

#define UNRECORDED_MAX 8

/*
 * A VMM that pvmd forked before it died, but that does not answer on its
 * socket yet, so adopt_unrecorded cannot find it by the socket's peer.
 * It is found by the socket path in its command line and killed (with its
 * guest's process group); otherwise it would run beside the VMM started now.
 * daemon_faults saw "runs 2 times" under ASan, where a VMM starts slowly.
 */
static void kill_unrecorded(struct hv_priv *p, const char *id)
{
	char sock[PATH_MAX + 80];
	pid_t pid[UNRECORDED_MAX];
	uint64_t start[UNRECORDED_MAX], deadline;
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	guest_path(p, id, "sock", sock, sizeof(sock));
	while (n < UNRECORDED_MAX && (de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0 || (pid_t)v == getpid() || !names_sock((pid_t)v, sock))
			continue;
		pid[n] = (pid_t)v;
		start[n] = pvmd_proc_starttime(pid[n]);
		pvm_log_warn("guest %s: killing pvm-vmm %d, which host.db did not name and which "
			     "does not answer",
			     id, (int)pid[n]);
		kill(-pid[n], SIGKILL);
		kill(pid[n], SIGKILL);
		n++;
	}
	closedir(d);
	deadline = pvm_now_ns() + KILL_GRACE_MS * 1000000ull;
	for (int i = 0; i < n; i++) {
		int status;

		while (pvmd_proc_alive(pid[i], start[i], &status) && pvm_now_ns() < deadline)
			pvm_sleep_ns(POLL_NS);
	}
}

static int hv_start(void *priv, const char *id, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	int ret;

	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	/* Starting a running guest is a no-op: reconciling may repeat itself. */
	if (!hv_alive(p, &g) && !adopt_unrecorded(p, &g)) {
		kill_unrecorded(p, id);
		ret = hv_spawn(p, &g, err);
	}
	pvmd_hguest_free(&g);
	return ret;
}

static bool wait_end(struct hv_priv *p, struct pvmd_hguest *g, uint64_t ms)
{
	uint64_t deadline = pvm_now_ns() + ms * 1000000ull;

	while (hv_alive(p, g)) {
		if (pvm_now_ns() >= deadline)
			return false;
		pvm_sleep_ns(POLL_NS);
	}
	return true;
}

static int hv_stop(void *priv, const char *id, unsigned timeout_ms, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	char sock[PATH_MAX + 80], req[96];
	json_object *ans = NULL;
	int ret;

	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	/* One a dead pvmd started but never recorded is stopped too, not left running. */
	if (!hv_alive(p, &g) && !adopt_unrecorded(p, &g))
		goto out;
	g.stopping = true;
	ret = pvmd_hstate_set_proc(p->hs, &g, err);
	if (ret < 0)
		goto out;
	guest_path(p, id, "sock", sock, sizeof(sock));
	snprintf(req, sizeof(req), "{\"cmd\":\"stop\",\"timeout_ms\":%u}",
		 timeout_ms ? timeout_ms : 1);
	/* The VMM forces its own stop at the timeout; SIGKILL is for a VMM that hangs. */
	if (pvmd_vmm_call(sock, req, CALL_TIMEOUT_MS, &ans, NULL) == 0)
		json_object_put(ans);
	if (!wait_end(p, &g, (uint64_t)timeout_ms + KILL_GRACE_MS)) {
		pvm_log_warn("guest %s: pvm-vmm %d did not stop in time: SIGKILL", id, (int)g.pid);
		kill(-g.pid, SIGKILL);
		if (!wait_end(p, &g, KILL_GRACE_MS))
			ret = pvm_err_set(err, -ETIMEDOUT, "guest %s: pvm-vmm %d survives SIGKILL",
					  id, (int)g.pid);
	}
out:
	pvmd_hguest_free(&g);
	return ret;
}

static enum pvmd_guest_state ended_state(const struct pvmd_hguest *g)
{
	int st = g->exit_status;

	/*
	 * Stopped because pvmd asked (stop(), recorded in host.db before the
	 * ask, so a pvmd killed mid-stop still knows): not a guest that ran to
	 * completion, but one to start again once it is wanted running.
	 */
	if (g->pid == 0 || g->stopping)
		return PVMD_GUEST_DEFINED;
	/* An adopted VMM killed outright left no exit code behind. */
	if (st == -1)
		return PVMD_GUEST_CRASHED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return PVMD_GUEST_STOPPED;
	return PVMD_GUEST_CRASHED;
}

static enum pvmd_guest_state guest_state(struct hv_priv *p, struct pvmd_hguest *g)
{
	json_object *ans = NULL;
	const char *s = NULL;
	enum pvmd_guest_state st = PVMD_GUEST_RUNNING;

	/* What a dead pvmd started and never recorded counts as running (it is). */
	if (!hv_alive(p, g) && !adopt_unrecorded(p, g))
		return ended_state(g);
	/* Alive but silent is still booting or busy: running for the controller. */
	if (hv_status(p, g->id, CALL_TIMEOUT_MS, &ans, NULL) == 0 &&
	    pvm_json_get_str(ans, "state", &s) == 0 && strcmp(s, "paused") == 0)
		st = PVMD_GUEST_PAUSED;
	json_object_put(ans);
	return st;
}

static int hv_state(void *priv, const char *id, enum pvmd_guest_state *out, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	int ret;

	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	*out = guest_state(p, &g);
	pvmd_hguest_free(&g);
	return 0;
}

static int hv_stats(void *priv, const char *id, json_object **out, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	char sock[PATH_MAX + 80];
	json_object *ans = NULL, *stats = NULL;
	int ret;

	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	if (!hv_alive(p, &g)) {
		/* An ended VMM's last word: what it wrote at exit. */
		ret = read_final_stats(p, id, &stats, err);
		if (ret < 0) {
			if (ret == -ENOENT)
				ret = pvm_err_set(err, -ENOTCONN,
						  "guest %s is not running and left no statistics",
						  id);
			goto out;
		}
		json_object_object_add(stats, "driver", json_object_new_string("hv"));
		json_object_object_add(
		    stats, "state", json_object_new_string(pvmd_guest_state_name(ended_state(&g))));
		*out = stats;
		goto out;
	}
	guest_path(p, id, "sock", sock, sizeof(sock));
	ret = pvmd_vmm_call(sock, "{\"cmd\":\"stats\"}", CALL_TIMEOUT_MS, &ans, err);
	if (ret < 0)
		goto out;
	if (!json_object_object_get_ex(ans, "stats", &stats) ||
	    !json_object_is_type(stats, json_type_object)) {
		ret = pvm_err_set(err, -EPROTO, "guest %s: stats answer without stats", id);
		goto out;
	}
	json_object_get(stats);
	json_object_object_add(stats, "driver", json_object_new_string("hv"));
	json_object_object_add(stats, "state", json_object_new_string("running"));
	json_object_object_add(stats, "pid", json_object_new_int64(g.pid));
	*out = stats;
out:
	json_object_put(ans);
	pvmd_hguest_free(&g);
	return ret;
}

static int hv_agent(void *priv, const char *id, json_object **out, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	char sock[PATH_MAX + 80];
	json_object *ans = NULL, *agent = NULL;
	int ret;

	*out = NULL;
	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	if (!hv_alive(p, &g)) {
		ret = pvm_err_set(err, -ENOTCONN, "guest %s is not running", id);
		goto out;
	}
	guest_path(p, id, "sock", sock, sizeof(sock));
	ret = pvmd_vmm_call(sock, "{\"cmd\":\"agent\"}", CALL_TIMEOUT_MS, &ans, err);
	if (ret < 0)
		goto out;
	if (!json_object_object_get_ex(ans, "agent", &agent) || !agent) {
		ret = pvm_err_set(err, -ENOENT, "guest %s: the agent has not spoken", id);
		goto out;
	}
	if (!json_object_is_type(agent, json_type_object)) {
		ret = pvm_err_set(err, -EPROTO, "guest %s: agent answer is not an object", id);
		goto out;
	}
	*out = json_object_get(agent);
out:
	json_object_put(ans);
	pvmd_hguest_free(&g);
	return ret;
}

static int hv_undefine(void *priv, const char *id, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_hguest g;
	char path[PATH_MAX + 80];
	int ret;

	ret = pvmd_hstate_get(p->hs, id, &g, err);
	if (ret < 0)
		return ret;
	if (hv_alive(p, &g)) {
		ret = pvm_err_set(err, -EBUSY, "guest %s is running; stop it first", id);
		goto out;
	}
	ret = pvmd_hstate_del(p->hs, id, err);
	if (ret < 0)
		goto out;
	guest_path(p, id, "sock", path, sizeof(path));
	unlink(path);
	guest_path(p, id, "log", path, sizeof(path));
	unlink(path);
	guest_path(p, id, "stats.json", path, sizeof(path));
	unlink(path);
	/* only the scratch disk this driver made: an operator's disk stays */
	guest_path(p, id, "disk", path, sizeof(path));
	if (g.disk && strcmp(g.disk, path) == 0)
		unlink(path);
	if (p->cgroups)
		pvmd_cgroup_remove(id);
out:
	pvmd_hguest_free(&g);
	return ret;
}

static int hv_list(void *priv, struct pvmd_guest_info **out, size_t *n, struct pvm_err *err)
{
	struct hv_priv *p = priv;
	struct pvmd_guest_info *infos;
	struct pvmd_hguest *gs = NULL;
	size_t count = 0;
	int ret;

	ret = pvmd_hstate_list(p->hs, &gs, &count, err);
	if (ret < 0)
		return ret;
	infos = calloc(count + 1, sizeof(*infos));
	if (!infos) {
		pvmd_hguests_free(gs, count);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		snprintf(infos[i].id, sizeof(infos[i].id), "%s", gs[i].id);
		snprintf(infos[i].name, sizeof(infos[i].name), "%s", gs[i].name);
		infos[i].state = guest_state(p, &gs[i]);
	}
	pvmd_hguests_free(gs, count);
	*out = infos;
	*n = count;
	return 0;
}

static int hv_exit_cost(void *priv, const char *image, const char *platform, unsigned exits,
			double *ns, struct pvm_err *err)
{
	struct hv_priv *p = priv;

	return pvmd_vmm_exit_cost(p->vmm, image, platform, exits, ns, err);
}

const struct pvmd_driver_ops pvmd_driver_hv = {
    .name = "hv",
    .open = hv_open,
    .close = hv_close,
    .define = hv_define,
    .start = hv_start,
    .stop = hv_stop,
    .undefine = hv_undefine,
    .state = hv_state,
    .stats = hv_stats,
    .agent = hv_agent,
    .list = hv_list,
    .exit_cost = hv_exit_cost,
};
