/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver: pvm guests as persistent libvirt domains, for hosts that
 * already run libvirt (qemu:///system) and for tests (test:///default).
 * A domain belongs to pvm when its metadata carries a <pvm:guest id="..."/>
 * element; that id, not the domain name, is the key (as Nova's metadata is).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "daemon/driver.h"

#define PVM_XMLNS	 "https://pvm.dev/xmlns/guest/1"
#define PVM_XMLNS_PREFIX "pvm"
#define STOP_POLL_NS	 (20 * 1000 * 1000ull)

struct lv_priv {
	virConnectPtr conn;
	char domain_type[16]; /* "test", "kvm" or "qemu" */
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

static int lv_open(const char *uri, void **out, struct pvm_err *err)
{
	struct lv_priv *p;
	const char *type;

	virSetErrorFunc(NULL, lv_silence);
	p = calloc(1, sizeof(*p));
	if (!p)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	p->conn = virConnectOpen(uri ? uri : "qemu:///system");
	if (!p->conn) {
		free(p);
		return lv_error(err, -ECONNREFUSED, "cannot connect");
	}
	type = virConnectGetType(p->conn);
	if (type && strcmp(type, "TEST") == 0)
		strcpy(p->domain_type, "test");
	else if (access("/dev/kvm", R_OK | W_OK) == 0)
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

/* Reads the pvm guest id of a domain; returns -ENOENT for foreign domains. */
static int lv_domain_id(virDomainPtr dom, char *out, size_t len)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, PVM_XMLNS,
					 VIR_DOMAIN_AFFECT_CONFIG);
	const char *start, *end;
	int ret = -ENOENT;

	if (!xml)
		return -ENOENT;
	start = strstr(xml, "id=\"");
	if (!start)
		goto out;
	start += 4;
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

static int lv_define(void *priv, const struct pvmd_guest_def *def, struct pvm_err *err)
{
	struct lv_priv *p = priv;
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

	pvm_buf_init(&xml);
	pvm_buf_printf(&xml, "<domain type='%s'><name>", p->domain_type);
	xml_text(&xml, def->name);
	pvm_buf_printf(&xml, "</name><metadata><" PVM_XMLNS_PREFIX ":guest xmlns:" PVM_XMLNS_PREFIX
			     "='" PVM_XMLNS "' id='");
	xml_text(&xml, def->id);
	pvm_buf_printf(&xml,
		       "'/></metadata><memory unit='MiB'>%llu</memory><vcpu>%u</vcpu>"
		       "<os><type arch='x86_64'>hvm</type>",
		       (unsigned long long)def->memory_mib, def->vcpus);
	if (def->image) {
		pvm_buf_printf(&xml, "<kernel>");
		xml_text(&xml, def->image);
		pvm_buf_printf(&xml, "</kernel>");
	}
	if (def->cmdline) {
		pvm_buf_printf(&xml, "<cmdline>");
		xml_text(&xml, def->cmdline);
		pvm_buf_printf(&xml, "</cmdline>");
	}
	pvm_buf_printf(&xml, "</os><on_poweroff>destroy</on_poweroff><devices>");
	if (def->disk) {
		pvm_buf_printf(&xml, "<disk type='file' device='disk'><source file='");
		xml_text(&xml, def->disk);
		pvm_buf_printf(&xml, "'/><target dev='vda' bus='virtio'/></disk>");
	}
	/* ttyS0 is the console; ttyS1 carries pvm-agent's protocol. */
	pvm_buf_printf(&xml, "<serial type='pty'><target port='0'/></serial>"
			     "<serial type='pty'><target port='1'/></serial>"
			     "</devices></domain>");
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
	virDomainPtr dom;
	uint64_t deadline = pvm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) != 1)
		goto out;
	/* A guest that ignores the ACPI request is destroyed at the deadline. */
	virDomainShutdown(dom);
	while (virDomainIsActive(dom) == 1 && pvm_now_ns() < deadline)
		pvm_sleep_ns(STOP_POLL_NS);
	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
		ret = lv_error(err, -EIO, "destroy");
out:
	virDomainFree(dom);
	return ret;
}

static int lv_undefine(void *priv, const char *id, struct pvm_err *err)
{
	virDomainPtr dom;
	int ret = 0;

	ret = lv_find(priv, id, &dom, err);
	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) == 1)
		ret = pvm_err_set(err, -EBUSY, "guest %s is running; stop it first", id);
	else if (virDomainUndefine(dom) < 0)
		ret = lv_error(err, -EIO, "undefine");
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
    .list = lv_list,
};
