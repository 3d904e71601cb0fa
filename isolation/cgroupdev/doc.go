// Package cgroupdev confines a domain's processes to the device nodes it
// was given: a BPF_PROG_TYPE_CGROUP_DEVICE program, attached to the
// domain's cgroup v2 directory, allows exactly the domain's nodes (char or
// block, major:minor, with read/write/mknod access each) and answers EPERM
// to every other open or mknod — another domain's GPU, MIG instance, DFL
// port or DSP endpoint, or anything not granted.
//
// # Design
//
// The program is written with cilium/ebpf's asm package (program.go), so
// building needs no clang and no bpf2go. It builds a key {type, major,
// minor} from bpf_cgroup_dev_ctx, looks it up in a BPF hash map, and
// allows the access only if every requested bit is in the map's value.
// The allow list lives in the map, so:
//
//   - Grant and Revoke are single map updates: atomic per node.
//   - Replace swaps the whole list at once: it fills a new map, loads a new
//     program bound to it, and replaces the attached program in one
//     BPF_LINK_UPDATE; an open is checked against the old list or the new,
//     never a mixture.
//
// Wildcards ("a *:* rwm", "c 195:* rw") are refused: a wildcard on the
// NVIDIA major would hand a domain every other tenant's GPU.
//
// # Living with container runtimes
//
// runc (and other runtimes) re-apply their device rules on update by
// loading their own filter and detaching the cgroup-device programs they
// find on the cgroup — including coprocd's. The kernel sends no
// notification, so Filter.Check compares the programs attached to the
// cgroup (BPF_PROG_QUERY) with the filter's own program id and re-attaches
// when it is gone; Watch runs Check on an interval. While both are
// attached the kernel runs both (BPF_F_ALLOW_MULTI semantics) and an
// access must pass both, so coprocd's filter only ever narrows what the
// runtime allows. Run coprocd's domains in cgroups the runtime does not
// manage (a child of the container's cgroup) where possible; otherwise
// the window between the runtime's detach and the next Check is the
// exposure, bounded by Watch's interval.
//
// A filter attached through a bpf_link (kernel 5.7+, what Attach uses
// where it can) is not removed by BPF_PROG_DETACH by program — runc's way
// fails with ENOENT on it (seen on Linux 6.18 in the tests, whose simulated
// agent has to detach through the link instead) — so it already survives
// runc's detach loop; Check covers agents that detach the link itself or
// replace the program.
//
// The filter is attached through a bpf_link where the kernel has them: the
// attachment lives as long as the daemon holds the link, so a crashed
// daemon's filters go away with it (the daemon re-attaches at start).
//
// # Capabilities
//
// Loading and attaching need CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN.
// CheckCapabilities and Probe report what is missing with an error
// wrapping ErrMissingCapabilities; the daemon calls Probe at start and, if
// it fails, logs the reason and runs with isolation marked off — never
// silently. A cgroup v2 hierarchy is needed (FindCgroup2 reads mountinfo;
// on a v1-only host MountCgroup2 mounts one; hybrid hosts have one at
// /sys/fs/cgroup/unified). The v1 devices controller, where present, is
// checked in addition: both must allow an access.
//
// # What it guards
//
// open(2) and mknod(2) of device nodes. A file descriptor opened before a
// node was revoked stays usable: revoke before handing a device to another
// domain and make sure the old domain's processes are gone.
package cgroupdev
