/*
 * pvexample: a guest driver for coprocd's paravirtual protocol in plain C,
 * built only on the generated header (go run ./frontend/cmd/coprocd-pv-header
 * > coprocd_pv.h) and the C library: the proof that the protocol is not
 * Go-only.
 *
 * It connects to the host endpoint, negotiates, maps the rings, reads the
 * GPU's ID register, maps a sealed memfd buffer into the domain's I/O
 * address space, submits FILL + FENCE on the request ring, waits for the
 * fence EVENT on the response ring (sleeping on the interrupt eventfd), and
 * checks what the device wrote.
 *
 *	usage: pvexample SOCKET_PATH PATTERN
 *
 * Exits 0 and prints "pvexample: ok" on success. Assumes a little-endian
 * CPU, as the protocol's integers are little-endian.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "coprocd_pv.h"

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pvexample: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* One ring, as the guest sees it. */
struct ring {
	uint8_t *slots;
	uint32_t n;
	volatile uint32_t *prod, *cons, *prod_event, *cons_event;
	uint32_t priv; /* our index: produced (request ring) or consumed (response ring) */
};

static volatile uint32_t *ctl(uint8_t *mem, uint32_t off) { return (volatile uint32_t *)(mem + off); }

static uint32_t load(volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void store(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

static int sock_fd, doorbell_fd, intr_fd;
static struct ring req, rsp;
static uint64_t next_tag = 1;

static void kick(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, 8) != 8 && errno != EAGAIN)
		die("eventfd write: %s", strerror(errno));
}

/* put_request writes a request with payload bytes of body and publishes it. */
static uint64_t put_request(uint8_t type, const void *body, uint32_t len)
{
	uint32_t k = (PV_RING_HEADER_BYTES + len + PV_SLOT_BYTES - 1) / PV_SLOT_BYTES;
	uint32_t pos = req.priv & (req.n - 1), to_end = req.n - pos, need = k;
	if (k > to_end)
		need += to_end;
	while (req.n - (req.priv - load(req.cons)) < need)
		usleep(10); /* a real driver would arm cons_event and sleep; this one sends a few requests */
	if (k > to_end) {
		struct pv_ring_header pad = { .type = PV_MSG_PAD, .slots = (uint16_t)to_end };
		memcpy(req.slots + (size_t)pos * PV_SLOT_BYTES, &pad, sizeof pad);
		req.priv += to_end;
		pos = 0;
	}
	uint8_t *slot = req.slots + (size_t)pos * PV_SLOT_BYTES;
	struct pv_ring_header h = { .type = type, .slots = (uint16_t)k, .len = len, .tag = next_tag++ };
	memcpy(slot, &h, sizeof h);
	memcpy(slot + sizeof h, body, len);
	uint32_t old = load(req.prod);
	req.priv += k;
	store(req.prod, req.priv);
	if (pv_need_event(load(req.prod_event), req.priv, old))
		kick(doorbell_fd);
	return h.tag;
}

/* MAX_SLEEP_MS bounds a sleep on the interrupt eventfd. */
#define MAX_SLEEP_MS 20

/* next_response copies the next response into buf (header first) and
 * returns 1, or sleeps on the interrupt eventfd until there is one. */
static void next_response(uint8_t *buf)
{
	for (;;) {
		uint32_t p = load(rsp.prod);
		if (p - rsp.priv > rsp.n)
			die("response ring: producer index %u is impossible (consumer at %u)", p, rsp.priv);
		while (p != rsp.priv) {
			uint8_t *slot = rsp.slots + (size_t)(rsp.priv & (rsp.n - 1)) * PV_SLOT_BYTES;
			struct pv_ring_header h;
			memcpy(&h, slot, sizeof h);
			uint32_t to_end = rsp.n - (rsp.priv & (rsp.n - 1));
			if (h.slots == 0 || h.slots > p - rsp.priv || h.slots > to_end ||
			    h.len > (uint32_t)h.slots * PV_SLOT_BYTES - PV_RING_HEADER_BYTES)
				die("response ring: bad message framing at %u", rsp.priv);
			if (h.type == PV_MSG_PAD) {
				rsp.priv += h.slots;
				continue;
			}
			memcpy(buf, slot, PV_RING_HEADER_BYTES + h.len);
			uint32_t old = load(rsp.cons);
			rsp.priv += h.slots;
			store(rsp.cons, rsp.priv);
			if (pv_need_event(load(rsp.cons_event), rsp.priv, old))
				kick(doorbell_fd);
			return;
		}
		/* Empty: ask for an interrupt, look again, then sleep. */
		store(rsp.prod_event, rsp.priv);
		if (load(rsp.prod) != rsp.priv)
			continue;
		/* The sleep is bounded, as the Go guest's (frontend.MaxSleep):
		 * a kick lost anywhere then costs MAX_SLEEP_MS, never a hang. */
		struct pollfd pfd = { .fd = intr_fd, .events = POLLIN };
		int ready = poll(&pfd, 1, MAX_SLEEP_MS);
		if (ready < 0 && errno != EINTR)
			die("interrupt eventfd poll: %s", strerror(errno));
		uint64_t v;
		if (ready > 0 && read(intr_fd, &v, 8) != 8 && errno != EINTR)
			die("interrupt eventfd read: %s", strerror(errno));
	}
}

/* call sends a request and waits for its RESULT; events met on the way
 * update *fence. It returns the RESULT's value and dies on an error. */
static uint64_t fence_seen;

static void note_event(const uint8_t *msg)
{
	struct pv_event e;
	memcpy(&e, msg + PV_RING_HEADER_BYTES, sizeof e);
	if (e.kind == PV_EVENT_FENCE && e.value > fence_seen)
		fence_seen = e.value;
	if (e.kind == PV_EVENT_JOB_FAILED || e.kind == PV_EVENT_TIMEOUT)
		die("job %llu failed: %.*s", (unsigned long long)e.job,
		    (int)(((const struct pv_ring_header *)msg)->len - sizeof e), (const char *)msg + PV_RING_HEADER_BYTES + sizeof e);
}

static uint64_t call(uint8_t type, const void *body, uint32_t len)
{
	static uint8_t buf[PV_MAX_MESSAGE_SLOTS * PV_SLOT_BYTES];
	uint64_t tag = put_request(type, body, len);
	for (;;) {
		next_response(buf);
		struct pv_ring_header h;
		memcpy(&h, buf, sizeof h);
		if (h.type == PV_MSG_EVENT) {
			note_event(buf);
			continue;
		}
		if (h.type != PV_MSG_RESULT || h.tag != tag)
			continue;
		struct pv_result r;
		memcpy(&r, buf + sizeof h, sizeof r);
		if (r.status != PV_STATUS_OK)
			die("request type 0x%x: status %u: %.*s", type, r.status, (int)(h.len - sizeof r), (char *)buf + sizeof h + sizeof r);
		return r.value;
	}
}

/* sock_send sends one socket packet with an optional fd. */
static void sock_send(uint16_t type, uint64_t tag, const void *body, uint32_t len, int fd)
{
	uint8_t pkt[PV_MAX_SOCKET_MESSAGE];
	struct pv_sock_header h = { .type = type, .len = len, .tag = tag };
	memcpy(pkt, &h, sizeof h);
	memcpy(pkt + sizeof h, body, len);
	struct iovec iov = { .iov_base = pkt, .iov_len = sizeof h + len };
	union { struct cmsghdr c; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		m.msg_control = u.b;
		m.msg_controllen = sizeof u.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	if (sendmsg(sock_fd, &m, 0) != (ssize_t)(sizeof h + len))
		die("sendmsg: %s", strerror(errno));
}

/* sock_recv receives one packet and up to 3 fds. */
static ssize_t sock_recv(uint8_t *pkt, int *fds, int *nfds)
{
	struct iovec iov = { .iov_base = pkt, .iov_len = PV_MAX_SOCKET_MESSAGE };
	union { struct cmsghdr c; char b[CMSG_SPACE(PV_MAX_FDS * sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	ssize_t n = recvmsg(sock_fd, &m, MSG_CMSG_CLOEXEC);
	if (n < (ssize_t)sizeof(struct pv_sock_header))
		die("recvmsg: %zd: %s", n, strerror(errno));
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds + *nfds, CMSG_DATA(c), (size_t)k * sizeof(int));
			*nfds += k;
		}
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: pvexample SOCKET_PATH PATTERN");
	uint32_t pattern = (uint32_t)strtoul(argv[2], NULL, 0);

	/* Connect and negotiate. */
	sock_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
	if (connect(sock_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("connect %s: %s", argv[1], strerror(errno));
	struct pv_hello hello = { .magic = PV_MAGIC, .major = PV_VERSION_MAJOR, .minor = PV_VERSION_MINOR, .caps = PV_CAPS_ALL };
	sock_send(PV_MSG_HELLO, 1, &hello, sizeof hello, -1);
	uint8_t pkt[PV_MAX_SOCKET_MESSAGE];
	int fds[PV_MAX_FDS], nfds;
	ssize_t n = sock_recv(pkt, fds, &nfds);
	struct pv_sock_header sh;
	memcpy(&sh, pkt, sizeof sh);
	if (sh.type == PV_MSG_REJECT)
		die("rejected: %.*s", (int)(n - sizeof sh - sizeof(struct pv_reject)), (char *)pkt + sizeof sh + sizeof(struct pv_reject));
	if (sh.type != PV_MSG_WELCOME || nfds != 3 || n < (ssize_t)(sizeof sh + sizeof(struct pv_welcome)))
		die("expected WELCOME with 3 fds, got type 0x%x with %d", sh.type, nfds);
	struct pv_welcome w;
	memcpy(&w, pkt + sizeof sh, sizeof w);
	if (w.magic != PV_MAGIC || w.major != PV_VERSION_MAJOR || w.devices < 1 ||
	    w.ring_bytes != pv_ring_bytes(w.req_slots, w.rsp_slots))
		die("bad WELCOME");
	struct pv_device_info dev;
	memcpy(&dev, pkt + sizeof sh + sizeof w, sizeof dev);
	printf("pvexample: domain %s, device %s (%s), protocol %u.%u\n", w.domain, dev.name, dev.model, w.major, w.minor);

	uint8_t *mem = mmap(NULL, w.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (mem == MAP_FAILED)
		die("mmap rings: %s", strerror(errno));
	close(fds[0]);
	doorbell_fd = fds[1];
	intr_fd = fds[2];
	if (*ctl(mem, PV_CTL_MAGIC) != PV_RING_MAGIC)
		die("bad ring magic");
	req = (struct ring){ mem + w.req_offset, w.req_slots, ctl(mem, PV_CTL_REQ_PROD), ctl(mem, PV_CTL_REQ_CONS),
			     ctl(mem, PV_CTL_REQ_PROD_EVENT), ctl(mem, PV_CTL_REQ_CONS_EVENT), 0 };
	rsp = (struct ring){ mem + w.rsp_offset, w.rsp_slots, ctl(mem, PV_CTL_RSP_PROD), ctl(mem, PV_CTL_RSP_CONS),
			     ctl(mem, PV_CTL_RSP_PROD_EVENT), ctl(mem, PV_CTL_RSP_CONS_EVENT), 0 };

	/* A register read through the request ring. */
	struct pv_reg_read rr = { .dev = 0, .size = 4, .offset = REFGPU_REG_ID };
	uint64_t id = call(PV_MSG_REG_READ, &rr, sizeof rr);
	if (id != REFGPU_ID)
		die("ID register 0x%llx, want 0x%x", (unsigned long long)id, REFGPU_ID);

	/* A buffer: a sealed memfd, mapped here and, by the host, for the device. */
	const uint64_t size = 4 * PV_PAGE_BYTES, iova = 0x10000000;
	int bfd = memfd_create("pvexample-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (bfd < 0 || ftruncate(bfd, (off_t)size) < 0 || fcntl(bfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		die("memfd: %s", strerror(errno));
	uint32_t *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0);
	if (buf == MAP_FAILED)
		die("mmap buffer: %s", strerror(errno));
	struct pv_map mp = { .iova = iova, .size = size, .perm = PV_PERM_READ_WRITE };
	sock_send(PV_MSG_MAP, 2, &mp, sizeof mp, bfd);
	close(bfd);
	n = sock_recv(pkt, fds, &nfds);
	struct pv_sock_result sr;
	memcpy(&sh, pkt, sizeof sh);
	memcpy(&sr, pkt + sizeof sh, sizeof sr);
	if (sh.type != PV_MSG_SOCK_RESULT || sh.tag != 2 || sr.status != PV_STATUS_OK)
		die("MAP refused: %.*s", (int)(n - sizeof sh - sizeof sr), (char *)pkt + sizeof sh + sizeof sr);

	/* FILL the first 3 pages with the pattern, then FENCE into the last page. */
	const uint64_t words = 3 * PV_PAGE_BYTES / 4, fence = 42;
	struct {
		struct pv_submit s;
		uint64_t w[7];
	} sub = { { .dev = 0, .words = 7 },
		  { REFGPU_HEADER(REFGPU_OP_FILL, 3), iova, words, pattern,
		    REFGPU_HEADER(REFGPU_OP_FENCE, 2), iova + 3 * PV_PAGE_BYTES, fence } };
	uint64_t job = call(PV_MSG_SUBMIT, &sub, sizeof sub);
	printf("pvexample: job %llu submitted\n", (unsigned long long)job);
	while (fence_seen < fence) { /* wait for the fence EVENT */
		static uint8_t msg[PV_MAX_MESSAGE_SLOTS * PV_SLOT_BYTES];
		next_response(msg);
		if (((struct pv_ring_header *)msg)->type == PV_MSG_EVENT)
			note_event(msg);
	}
	for (uint64_t i = 0; i < words; i++)
		if (buf[i] != pattern)
			die("word %llu = 0x%x, want 0x%x", (unsigned long long)i, buf[i], pattern);
	uint64_t fence_mem;
	memcpy(&fence_mem, (uint8_t *)buf + 3 * PV_PAGE_BYTES, 8);
	if (fence_mem != fence)
		die("fence memory %llu, want %llu", (unsigned long long)fence_mem, (unsigned long long)fence);
	struct pv_reg_read fr = { .dev = 0, .size = 8, .offset = REFGPU_REG_FENCE };
	if (call(PV_MSG_REG_READ, &fr, sizeof fr) != fence)
		die("FENCE register does not hold %llu", (unsigned long long)fence);

	struct pv_goodbye bye = { .status = PV_STATUS_OK };
	sock_send(PV_MSG_GOODBYE, 3, &bye, sizeof bye, -1);
	close(sock_fd);
	printf("pvexample: ok: %llu words filled with 0x%x, fence %llu\n", (unsigned long long)words, pattern, (unsigned long long)fence);
	return 0;
}
