/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver: pvm guests as persistent libvirt domains, for hosts that
 * already run libvirt (qemu:///system) and for tests (test:///default).
 * A domain belongs to pvm when its metadata carries a <pvm:guest id="..."/>
 * element; that id, not the domain name, is the key (as Nova's metadata is).
 *
 * With a state directory (pvmd_guest_def.state_dir) a guest gets its own
 * folder there, named in the metadata too: the serial console's log, the
 * unix socket of its virtio-serial agent port (org.pvm.agent.0, which
 * pvm-agent speaks on) and its scratch disk. A Linux image is a folder with
 * vmlinuz and initrd (packaging/guest-images/build-linux), booted directly.
 * The agent port is held by a relay thread while the guest runs (lv_relay.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "daemon/driver.h"
#include "daemon/lv_relay.h"
#include "daemon/vmm.h"

#define PVM_XMLNS	 "https://pvm.dev/xmlns/guest/1"
#define PVM_XMLNS_PREFIX "pvm"
#define STOP_POLL_NS	 (20 * 1000 * 1000ull)
#define AGENT_BYE_NS	 (2000 * 1000 * 1000ull) /* hello, then shutdown until BYE */
#define AGENT_PORT	 "org.pvm.agent.0"
#define LINUX_CMDLINE	 "console=ttyS0 panic=-1"

struct lv_priv {
	virConnectPtr conn;
	struct lv_relays *relays; /* one per running guest whose agent was asked for */
	char domain_type[16];	  /* "test", "kvm" or "qemu" */
};

/* libvirt prints every error to stderr unless a handler is set; errors are
 * reported through pvm_err instead. */
static void lv_silence(void *user, virErrorPtr e)
{
	(void)user;
	(void)e;
}

static int lv_error(struct pvm_err *err, int code, const char *what)
{
	const char *msg = virGetLastErrorMessage();

	return pvm_err_set(err, code, "libvirt: %s: %s", what, msg ? msg : "unknown error");
}

/* Whether /proc/cpuinfo names a CPU flag (a whole word on a flags line). */
static bool cpu_has_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL;

		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (char *w = strtok_r(line, " \t\n", &save); w && !found;
		     w = strtok_r(NULL, " \t\n", &save))
			found = strcmp(w, flag) == 0;
	}
	fclose(f);
	return found;
}

/* KVM that boots a stock kernel: VMX or SVM in the CPU's flags, the vendor
 * KVM module loaded and /dev/kvm usable. A PVM-style /dev/kvm (kvm_pvm, no
 * VMX/SVM underneath) hangs a stock kernel, so it gets TCG. */
bool pvmd_hardware_kvm(void)
{
	int fd;

	if (cpu_has_flag("vmx")) {
		if (access("/sys/module/kvm_intel", F_OK) != 0)
			return false;
	} else if (cpu_has_flag("svm")) {
		if (access("/sys/module/kvm_amd", F_OK) != 0)
			return false;
	} else {
		return false;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int lv_open(const char *uri, void **out, struct pvm_err *err)
{
	struct lv_priv *p;
	const char *type;

	virSetErrorFunc(NULL, lv_silence);
	p = calloc(1, sizeof(*p));
	if (!p || lv_relays_new(&p->relays) < 0) {
		free(p);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	p->conn = virConnectOpen(uri ? uri : "qemu:///system");
	if (!p->conn) {
		lv_relays_free(p->relays);
		free(p);
		return lv_error(err, -ECONNREFUSED, "cannot connect");
	}
	type = virConnectGetType(p->conn);
	if (type && strcmp(type, "TEST") == 0)
		strcpy(p->domain_type, "test");
	else if (pvmd_hardware_kvm())
		strcpy(p->domain_type, "kvm");
	else
		strcpy(p->domain_type, "qemu");
	*out = p;
	return 0;
}

static void lv_close(void *priv)
{
	struct lv_priv *p = priv;

	if (!p)
		return;
	lv_relays_free(p->relays);
	virConnectClose(p->conn);
	free(p);
}

static void xml_text(struct pvm_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			pvm_buf_printf(b, "&lt;");
			break;
		case '>':
			pvm_buf_printf(b, "&gt;");
			break;
		case '&':
			pvm_buf_printf(b, "&amp;");
			break;
		case '\'':
			pvm_buf_printf(b, "&apos;");
			break;
		case '"':
			pvm_buf_printf(b, "&quot;");
			break;
		default:
			pvm_buf_append(b, s, 1);
		}
	}
}

/* Reads an attribute of a domain's pvm metadata element ("id", "dir");
 * -ENOENT for foreign domains and absent attributes. The values pvm wrote
 * need no unescaping: ids and state folders are checked on define. */
static int lv_domain_attr(virDomainPtr dom, const char *attr, char *out, size_t len)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, PVM_XMLNS,
					 VIR_DOMAIN_AFFECT_CONFIG);
	const char *start, *end;
	char key[16];
	int ret = -ENOENT;

	if (!xml)
		return -ENOENT;
	snprintf(key, sizeof(key), " %s=\"", attr);
	start = strstr(xml, key);
	if (!start)
		goto out;
	start += strlen(key);
	end = strchr(start, '"');
	if (!end || (size_t)(end - start) >= len)
		goto out;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
	ret = 0;
out:
	free(xml);
	return ret;
}

static int lv_domain_id(virDomainPtr dom, char *out, size_t len)
{
	return lv_domain_attr(dom, "id", out, len);
}

static int lv_find(struct lv_priv *p, const char *id, virDomainPtr *out, struct pvm_err *err)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(p->conn, &doms, 0);

	*out = NULL;
	if (n < 0)
		return lv_error(err, -EIO, "list domains");
	for (int i = 0; i < n; i++) {
		char did[64];

		if (!*out && lv_domain_id(doms[i], did, sizeof(did)) == 0 && strcmp(did, id) == 0)
			*out = doms[i];
		else
			virDomainFree(doms[i]);
	}
	free(doms);
	if (!*out)
		return pvm_err_set(err, -ENOENT, "libvirt: no domain for guest %s", id);
	return 0;
}

/* Characters kept out of state folder names: the metadata is read back
 * without unescaping, and libvirt's paths must stay what pvm wrote. */
static bool lv_plain_path(const char *s)
{
	return !strpbrk(s, "'\"<>&");
}

/* mkdir -p for path, each folder 0755: QEMU (libvirt-qemu) must reach the
 * guest's disk through it. */
static int lv_mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1;; p++) {
		bool end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (end)
			return 0;
		*p = '/';
	}
}

/* A sparse raw file of gib GiB, kept when it exists (a redefined guest keeps
 * its scratch data). */
static int lv_scratch_disk(const char *path, uint64_t gib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), ret = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && st.st_size == 0 && ftruncate(fd, (off_t)(gib << 30)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void xml_elem(struct pvm_buf *b, const char *tag, const char *text)
{
	pvm_buf_printf(b, "<%s>", tag);
	xml_text(b, text);
	pvm_buf_printf(b, "</%s>", tag);
}

/* <os>: a Linux image folder boots its vmlinuz and initrd with a serial
 * console; a file is the kernel itself. */
static void lv_os_xml(struct pvm_buf *xml, const struct pvmd_guest_def *def)
{
	struct stat st;
	char path[PATH_MAX + 16];

	pvm_buf_printf(xml, "<os><type arch='x86_64'>hvm</type>");
	if (def->image && stat(def->image, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(path, sizeof(path), "%s/vmlinuz", def->image);
		xml_elem(xml, "kernel", path);
		snprintf(path, sizeof(path), "%s/initrd", def->image);
		xml_elem(xml, "initrd", path);
		pvm_buf_printf(xml, "<cmdline>" LINUX_CMDLINE);
		if (def->cmdline && *def->cmdline) {
			pvm_buf_printf(xml, " ");
			xml_text(xml, def->cmdline);
		}
		pvm_buf_printf(xml, "</cmdline>");
	} else {
		if (def->image)
			xml_elem(xml, "kernel", def->image);
		if (def->cmdline)
			xml_elem(xml, "cmdline", def->cmdline);
	}
	pvm_buf_printf(xml, "</os>");
}

static int lv_define(void *priv, const struct pvmd_guest_def *def, struct pvm_err *err)
{
	struct lv_priv *p = priv;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct pvm_buf xml;
	virDomainPtr dom;
	int ret;

	ret = pvmd_guest_name_check(def->name, err);
	if (ret < 0)
		return ret;
	if (def->vcpus == 0 || def->memory_mib == 0)
		return pvm_err_set(err, -EINVAL, "guest %s needs vcpus and memory", def->id);
	if (lv_find(p, def->id, &dom, NULL) == 0) {
		virDomainFree(dom);
		return pvm_err_set(err, -EEXIST, "guest %s is already defined", def->id);
	}
	dir[0] = '\0';
	if (def->state_dir) {
		if (!lv_plain_path(def->state_dir) || !lv_plain_path(def->id))
			return pvm_err_set(err, -EINVAL, "state folder %s: quotes, <, > or & in it",
					   def->state_dir);
		if ((size_t)snprintf(dir, sizeof(dir), "%s/libvirt/%s", def->state_dir, def->id) >=
		    sizeof(dir) - 16)
			return pvm_err_set(err, -ENAMETOOLONG, "state folder %s: too long",
					   def->state_dir);
		ret = lv_mkdirs(dir);
		if (ret < 0)
			return pvm_err_set(err, ret, "%s: %s", dir, strerror(-ret));
	}

	pvm_buf_init(&xml);
	pvm_buf_printf(&xml, "<domain type='%s'><name>", p->domain_type);
	xml_text(&xml, def->name);
	pvm_buf_printf(&xml, "</name><metadata><" PVM_XMLNS_PREFIX ":guest xmlns:" PVM_XMLNS_PREFIX
			     "='" PVM_XMLNS "' id='");
	xml_text(&xml, def->id);
	if (dir[0])
		pvm_buf_printf(&xml, "' dir='%s", dir);
	pvm_buf_printf(&xml, "'/></metadata><memory unit='MiB'>%llu</memory><vcpu>%u</vcpu>",
		       (unsigned long long)def->memory_mib, def->vcpus);
	lv_os_xml(&xml, def);
	/* ACPI on: a shutdown request is the power button, which the guest obeys. */
	pvm_buf_printf(&xml, "<features><acpi/></features><on_poweroff>destroy</on_poweroff>"
			     "<devices>");
	if (def->disk) {
		pvm_buf_printf(&xml, "<disk type='file' device='disk'><source file='");
		xml_text(&xml, def->disk);
		pvm_buf_printf(&xml, "'/><target dev='vda' bus='virtio'/></disk>");
	} else if (dir[0] && def->disk_gib) {
		snprintf(path, sizeof(path), "%s/scratch.img", dir);
		ret = lv_scratch_disk(path, def->disk_gib);
		if (ret < 0) {
			ret = pvm_err_set(err, ret, "%s: %s", path, strerror(-ret));
			goto out;
		}
		pvm_buf_printf(&xml,
			       "<disk type='file' device='disk'><driver name='qemu' "
			       "type='raw'/><source file='%s'/><target dev='vda' bus='virtio'/>"
			       "</disk>",
			       path);
	}
	/* ttyS0 is the console; the agent speaks on its own virtio-serial port. */
	if (dir[0])
		pvm_buf_printf(
		    &xml,
		    "<serial type='file'><source path='%s/console.log'/>"
		    "<target port='0'/></serial><channel type='unix'><source "
		    "mode='bind' path='%s/agent.sock'/><target type='virtio' name='" AGENT_PORT
		    "'/></channel>",
		    dir, dir);
	else
		pvm_buf_printf(&xml, "<serial type='pty'><target port='0'/></serial>");
	pvm_buf_printf(&xml, "</devices></domain>");
	if (xml.failed) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	dom = virDomainDefineXML(p->conn, xml.data);
	if (!dom) {
		ret = lv_error(err, -EINVAL, "define");
		goto out;
	}
	virDomainFree(dom);
out:
	pvm_buf_free(&xml);
	return ret;
}

static enum pvmd_guest_state lv_map_state(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		return PVMD_GUEST_RUNNING;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		return PVMD_GUEST_PAUSED;
	case VIR_DOMAIN_SHUTDOWN:
		return PVMD_GUEST_RUNNING; /* still shutting down */
	case VIR_DOMAIN_SHUTOFF:
		return PVMD_GUEST_DEFINED;
	case VIR_DOMAIN_CRASHED:
		return PVMD_GUEST_CRASHED;
	default:
		return PVMD_GUEST_UNKNOWN;
	}
}

static int lv_dom_state(virDomainPtr dom, enum pvmd_guest_state *out, struct pvm_err *err)
{
	int st, reason;

	if (virDomainGetState(dom, &st, &reason, 0) < 0)
		return lv_error(err, -EIO, "get state");
	*out = lv_map_state(st);
	if (st == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN)
		*out = PVMD_GUEST_STOPPED;
	if (st == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_CRASHED)
		*out = PVMD_GUEST_CRASHED;
	return 0;
}

/* The guest's agent relay, started on its port if need be. */
static int lv_relay_of(struct lv_priv *p, virDomainPtr dom, const char *id, struct pvm_err *err)
{
	char dir[PATH_MAX], sock[PATH_MAX + 16];

	if (lv_domain_attr(dom, "dir", dir, sizeof(dir)) < 0)
		return pvm_err_set(err, -ENOENT, "guest %s has no agent port", id);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	if (lv_relay_ensure(p->relays, id, sock) < 0)
		return pvm_err_set(err, -ENOMEM, "guest %s: no agent relay", id);
	return 0;
}

static int lv_start(void *priv, const char *id, struct pvm_err *err)
{
	virDomainPtr dom;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) == 1)
		goto out; /* starting a running guest is a no-op, as reconciling needs */
	if (virDomainCreate(dom) < 0)
		ret = lv_error(err, -EIO, "start");
out:
	virDomainFree(dom);
	return ret;
}

static int lv_stop(void *priv, const char *id, unsigned timeout_ms, struct pvm_err *err)
{
	struct lv_priv *p = priv;
	virDomainPtr dom;
	uint64_t deadline = pvm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) != 1)
		goto out;
	/* The agent's shutdown first, then the ACPI power button; a guest that
	 * ignores both is destroyed at the deadline. */
	if (lv_relay_of(p, dom, id, NULL) < 0 || !lv_relay_shutdown(p->relays, id, AGENT_BYE_NS))
		virDomainShutdown(dom);
	while (virDomainIsActive(dom) == 1 && pvm_now_ns() < deadline)
		pvm_sleep_ns(STOP_POLL_NS);
	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
		ret = lv_error(err, -EIO, "destroy");
out:
	if (virDomainIsActive(dom) != 1)
		lv_relay_drop(p->relays, id);
	virDomainFree(dom);
	return ret;
}

static int lv_undefine(void *priv, const char *id, struct pvm_err *err)
{
	struct lv_priv *p = priv;
	virDomainPtr dom;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) == 1)
		ret = pvm_err_set(err, -EBUSY, "guest %s is running; stop it first", id);
	else if (virDomainUndefine(dom) < 0)
		ret = lv_error(err, -EIO, "undefine");
	else
		lv_relay_drop(p->relays, id);
	virDomainFree(dom);
	return ret;
}

static int lv_state(void *priv, const char *id, enum pvmd_guest_state *out, struct pvm_err *err)
{
	virDomainPtr dom;
	int ret;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	ret = lv_dom_state(dom, out, err);
	virDomainFree(dom);
	return ret;
}

static int lv_stats(void *priv, const char *id, json_object **out, struct pvm_err *err)
{
	virDomainPtr dom;
	enum pvmd_guest_state st = PVMD_GUEST_UNKNOWN;
	virDomainInfo info;
	json_object *o;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainGetInfo(dom, &info) < 0 || lv_dom_state(dom, &st, err) < 0) {
		ret = lv_error(err, -EIO, "domain info");
		goto out;
	}
	o = json_object_new_object();
	if (!o) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_object_add(o, "driver", json_object_new_string("libvirt"));
	json_object_object_add(o, "state", json_object_new_string(pvmd_guest_state_name(st)));
	json_object_object_add(o, "vcpus", json_object_new_int(info.nrVirtCpu));
	json_object_object_add(o, "memory_kib", json_object_new_int64((int64_t)info.memory));
	json_object_object_add(o, "max_memory_kib", json_object_new_int64((int64_t)info.maxMem));
	json_object_object_add(o, "cpu_time_ns", json_object_new_int64((int64_t)info.cpuTime));
	*out = o;
out:
	virDomainFree(dom);
	return ret;
}

/* The relay's session as it stands: never waits, as pvmd's report loop
 * calls this for every guest. */
static int lv_agent(void *priv, const char *id, json_object **out, struct pvm_err *err)
{
	struct lv_priv *p = priv;
	virDomainPtr dom;
	int ret;

	*out = NULL;
	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) != 1) {
		lv_relay_drop(p->relays, id);
		ret = pvm_err_set(err, -ENOTCONN, "guest %s is not running", id);
		goto out;
	}
	ret = lv_relay_of(p, dom, id, err);
	if (ret < 0)
		goto out;
	ret = lv_relay_json(p->relays, id, out);
	if (ret == -ENOENT)
		ret = pvm_err_set(err, -ENOENT, "guest %s: the agent has not spoken", id);
	else if (ret < 0)
		ret = pvm_err_set(err, ret, "out of memory");
out:
	virDomainFree(dom);
	return ret;
}

static int lv_list(void *priv, struct pvmd_guest_info **out, size_t *n, struct pvm_err *err)
{
	struct lv_priv *p = priv;
	struct pvmd_guest_info *infos = NULL;
	virDomainPtr *doms = NULL;
	size_t count = 0;
	int nd, ret = 0;

	nd = virConnectListAllDomains(p->conn, &doms, 0);
	if (nd < 0)
		return lv_error(err, -EIO, "list domains");
	infos = calloc((size_t)nd + 1, sizeof(*infos));
	if (!infos) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nd; i++) {
		struct pvmd_guest_info *gi = &infos[count];
		const char *name;

		if (lv_domain_id(doms[i], gi->id, sizeof(gi->id)) < 0)
			continue; /* not a pvm guest */
		name = virDomainGetName(doms[i]);
		snprintf(gi->name, sizeof(gi->name), "%s", name ? name : "");
		if (lv_dom_state(doms[i], &gi->state, NULL) < 0)
			gi->state = PVMD_GUEST_UNKNOWN;
		count++;
	}
	*out = infos;
	*n = count;
	infos = NULL;
out:
	for (int i = 0; i < nd; i++)
		virDomainFree(doms[i]);
	free(doms);
	free(infos);
	return ret;
}

const struct pvmd_driver_ops pvmd_driver_libvirt = {
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .define = lv_define,
    .start = lv_start,
    .stop = lv_stop,
    .undefine = lv_undefine,
    .state = lv_state,
    .stats = lv_stats,
    .agent = lv_agent,
    .list = lv_list,
};
